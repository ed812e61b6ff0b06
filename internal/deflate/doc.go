// Package deflate is a DEFLATE (RFC 1951) encoder for the gzip members of
// .deb packages, built for the best size per unit of CPU on what packages
// hold: Go binaries, text and small files. An Encoder compresses one chunk
// at a time, primed with the preceding bytes as history, so that a caller
// can compress the chunks of one stream in parallel and concatenate the
// results (see Encoder.Encode).
//
// It exists because the Go encoders available (compress/flate and
// github.com/klauspost/compress/flate) never emit matches shorter than 4
// bytes. Machine code is full of profitable 3-byte matches: on Go binaries
// their best levels stay ~2 % larger than gzip -9, and only their slow
// levels come within 1 % of it on a whole package. This encoder follows
// zlib and libdeflate instead: hash chains over 4-byte hashes plus a table
// of 3-byte matches at short distances, lazy parsing, and a choice of
// stored, fixed or dynamic Huffman coding for every block. Segments of
// 16 KiB whose bytes look random (the zlib-compressed DWARF sections of
// unstripped Go binaries, embedded archives) become literals without a
// search, as the gzip writer does for whole chunks (see dense.go).
//
// The output depends only on the input: never on timing or the machine.
package deflate
