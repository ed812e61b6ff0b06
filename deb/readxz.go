package deb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The xz container (tukaani.org/xz/xz-file-format.txt) is read here, and
// only the LZMA2 data inside each block is left to ulikunitz/xz/lzma.
// ulikunitz/xz's own reader gives each block the dictionary its header
// asks for, without an upper bound (xz.ReaderConfig.DictCap is a floor,
// not a cap), so a second block asking for 4 GiB took 1.1 GB. Here every
// block header is checked against maxXZDict before its decoder exists, and
// the decoder gets no larger a dictionary than the block's output, found
// by reading its LZMA2 chunk headers ahead: a stream of many tiny blocks,
// each asking for the most, would otherwise allocate (and the runtime
// zero) the whole dictionary for every block.

var (
	xzMagic     = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	xzFooterEnd = []byte{'Y', 'Z'}
	crc64ECMA   = crc64.MakeTable(crc64.ECMA)
)

// xzReader decodes one xz stream, as dpkg-deb and Build write it: blocks
// of LZMA2 data (no other filter), each block's check verified, then the
// index and footer checked against the blocks read, and nothing after.
type xzReader struct {
	ra        io.ReaderAt // the stream, from its start, to read chunk headers ahead
	src       countingReader
	r         *bufio.Reader    // over src
	flags     []byte           // stream flags; flags[1] is the check type
	newCheck  func() hash.Hash // nil when the stream has no check
	checkSize int
	// The index of the blocks read so far, kept as liblzma keeps it: a
	// count and a hash of the records, so that a stream of many blocks
	// costs no memory per block.
	blocks  uint64
	records hash.Hash64
	b       *xzBlock // the block being read; nil between blocks
	err     error    // sticky
}

// xzBlock is one block being decoded.
type xzBlock struct {
	dec          io.Reader // the LZMA2 decoder
	in           countingReader
	check        hash.Hash // nil when the stream has no check
	hdrLen       int64
	csize, usize int64 // from the header; -1 when it does not say
	n            int64 // uncompressed bytes so far
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// newXZReader reads the stream header; the stream starts at r's offset 0.
func newXZReader(r *io.SectionReader) (*xzReader, error) {
	x := &xzReader{ra: r, src: countingReader{r: r}, records: crc64.New(crc64ECMA)}
	x.r = bufio.NewReaderSize(&x.src, 32<<10)
	var h [12]byte
	if _, err := io.ReadFull(x.r, h[:]); err != nil {
		return nil, fmt.Errorf("xz: stream header: %w", noEOF(err))
	}
	if !bytes.Equal(h[:6], xzMagic) {
		return nil, errors.New("xz: not an xz stream (bad magic)")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return nil, errors.New("xz: stream header checksum mismatch")
	}
	x.flags = bytes.Clone(h[6:8])
	switch {
	case x.flags[0] != 0 || x.flags[1]&0xf0 != 0:
		return nil, fmt.Errorf("xz: unsupported stream flags %#x", x.flags)
	case x.flags[1] == 0x00:
	case x.flags[1] == 0x01:
		x.newCheck, x.checkSize = func() hash.Hash { return crc32.NewIEEE() }, 4
	case x.flags[1] == 0x04:
		x.newCheck, x.checkSize = func() hash.Hash { return crc64.New(crc64ECMA) }, 8
	case x.flags[1] == 0x0a:
		x.newCheck, x.checkSize = sha256.New, 32
	default:
		return nil, fmt.Errorf("xz: unsupported check type %d", x.flags[1])
	}
	return x, nil
}

// Read reads the decompressed content.
func (x *xzReader) Read(p []byte) (int, error) {
	for x.err == nil {
		if x.b == nil {
			x.b, x.err = x.nextBlock()
			continue
		}
		n, err := x.readBlock(p)
		if err == io.EOF {
			err = x.endBlock()
			x.b = nil
		}
		x.err = err
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
	return 0, x.err
}

// nextBlock reads a block header and starts its decoder, or reads the
// index and footer and returns io.EOF.
func (x *xzReader) nextBlock() (*xzBlock, error) {
	c, err := x.r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("xz: %w", noEOF(err))
	}
	if c == 0 { // the index indicator
		if err := x.readIndex(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	hdr := make([]byte, (int(c)+1)*4)
	hdr[0] = c
	if _, err := io.ReadFull(x.r, hdr[1:]); err != nil {
		return nil, fmt.Errorf("xz: block %d header: %w", x.blocks+1, noEOF(err))
	}
	b, dict, err := parseXZBlockHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("xz: block %d header: %w", x.blocks+1, err)
	}
	if dict > maxXZDict {
		return nil, fmt.Errorf("xz: block %d asks for an LZMA2 dictionary of %d bytes, more than the %d Read allows", x.blocks+1, dict, maxXZDict)
	}
	// Matches reach back within the block only: it needs no larger a
	// dictionary than its output.
	dict = max(lzma.MinDictCap, lzma2Size(x.ra, x.src.n-int64(x.r.Buffered()), dict))
	b.in.r = x.r
	if x.newCheck != nil {
		b.check = x.newCheck()
	}
	if b.dec, err = (lzma.Reader2Config{DictCap: int(dict)}).NewReader2(&b.in); err != nil {
		return nil, fmt.Errorf("xz: block %d: %w", x.blocks+1, err)
	}
	return b, nil
}

// lzma2Size is the sum of the uncompressed sizes of the LZMA2 chunks at
// off in ra, up to their end marker, or limit if it is more or the chunk
// headers cannot tell (the decoder then reports what is wrong).
func lzma2Size(ra io.ReaderAt, off, limit int64) int64 {
	var h [6]byte // the longest chunk header
	var n int64
	for n < limit {
		k, _ := ra.ReadAt(h[:], off)
		c := h[0]
		size := (int64(h[1])<<8 | int64(h[2])) + 1
		switch {
		case k >= 1 && c == 0: // the end marker
			return n
		case k >= 3 && (c == 1 || c == 2): // stored
			n, off = n+size, off+3+size
		case c >= 0x80 && k >= 5+int(c>>6&1): // LZMA; new properties from 0xc0
			packed := (int64(h[3])<<8 | int64(h[4])) + 1
			n, off = n+int64(c&0x1f)<<16+size, off+5+int64(c>>6&1)+packed
		default:
			return limit
		}
	}
	return limit
}

// parseXZBlockHeader checks a block header (size byte and checksum
// included) and returns the block it starts and the dictionary size its
// LZMA2 filter declares.
func parseXZBlockHeader(hdr []byte) (*xzBlock, int64, error) {
	body := hdr[:len(hdr)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(hdr[len(hdr)-4:]) {
		return nil, 0, errors.New("checksum mismatch")
	}
	b := &xzBlock{hdrLen: int64(len(hdr)), csize: -1, usize: -1}
	flags := body[1]
	if flags&0x3c != 0 {
		return nil, 0, fmt.Errorf("unsupported flags %#x", flags)
	}
	if flags&0x03 != 0 {
		return nil, 0, errors.New("filter chains (BCJ, delta) are not supported, only LZMA2")
	}
	r := bytes.NewReader(body[2:])
	for _, f := range []struct {
		bit  byte
		size *int64
	}{{0x40, &b.csize}, {0x80, &b.usize}} {
		if flags&f.bit == 0 {
			continue
		}
		v, err := readVLI(r)
		if err != nil || v == 0 || v > 1<<62 {
			return nil, 0, errors.New("bad block size field")
		}
		*f.size = int64(v)
	}
	id, err1 := readVLI(r)
	propSize, err2 := readVLI(r)
	prop, err3 := r.ReadByte()
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, 0, errors.New("truncated filter flags")
	}
	if id != 0x21 || propSize != 1 {
		return nil, 0, fmt.Errorf("filter %#x is not supported, only LZMA2", id)
	}
	dict, err := lzma.DecodeDictCap(prop)
	if err != nil {
		return nil, 0, err
	}
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c != 0 {
			return nil, 0, errors.New("non-zero padding")
		}
	}
	return b, dict, nil
}

// readBlock reads decompressed content of the current block; io.EOF at
// its end.
func (x *xzReader) readBlock(p []byte) (int, error) {
	b := x.b
	n, err := b.dec.Read(p)
	b.n += int64(n)
	if b.check != nil {
		b.check.Write(p[:n])
	}
	switch {
	case b.usize >= 0 && b.n > b.usize, b.csize >= 0 && b.in.n > b.csize:
		return n, fmt.Errorf("xz: block %d is larger than its header says", x.blocks+1)
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("xz: block %d: %w", x.blocks+1, err)
	}
	return n, err
}

// endBlock reads the padding and check after a block's LZMA2 data and
// adds the block to the index.
func (x *xzReader) endBlock() error {
	b := x.b
	num := x.blocks + 1
	if b.usize >= 0 && b.n != b.usize || b.csize >= 0 && b.in.n != b.csize {
		return fmt.Errorf("xz: block %d is smaller than its header says", num)
	}
	tail := make([]byte, int(-b.in.n&3)+x.checkSize)
	if _, err := io.ReadFull(x.r, tail); err != nil {
		return fmt.Errorf("xz: block %d: %w", num, noEOF(err))
	}
	pad, sum := tail[:len(tail)-x.checkSize], tail[len(tail)-x.checkSize:]
	if bytes.IndexFunc(pad, func(r rune) bool { return r != 0 }) >= 0 {
		return fmt.Errorf("xz: block %d: non-zero padding", num)
	}
	if b.check != nil && !bytes.Equal(sum, xzSum(b.check)) {
		return fmt.Errorf("xz: block %d: content does not match its check", num)
	}
	x.blocks++
	writeXZRecord(x.records, uint64(b.hdrLen+b.in.n+int64(x.checkSize)), uint64(b.n))
	return nil
}

// xzSum is h's sum as xz stores it: CRC32 and CRC64 little-endian.
func xzSum(h hash.Hash) []byte {
	switch h := h.(type) {
	case hash.Hash32:
		return binary.LittleEndian.AppendUint32(nil, h.Sum32())
	case hash.Hash64:
		return binary.LittleEndian.AppendUint64(nil, h.Sum64())
	}
	return h.Sum(nil)
}

func writeXZRecord(h hash.Hash, unpadded, uncompressed uint64) {
	h.Write(binary.AppendUvarint(binary.AppendUvarint(nil, unpadded), uncompressed))
}

// readIndex reads the index (its indicator already read) and the footer,
// checking them against the blocks read, and that nothing follows.
func (x *xzReader) readIndex() error {
	r := &crcByteReader{r: x.r, crc: crc32.NewIEEE()}
	r.crc.Write([]byte{0})
	r.n = 1
	count, err := readVLI(r)
	if err != nil {
		return fmt.Errorf("xz: index: %w", noEOF(err))
	}
	if count != x.blocks {
		return fmt.Errorf("xz: the index lists %d blocks, the stream holds %d", count, x.blocks)
	}
	records := crc64.New(crc64ECMA)
	for range count {
		unpadded, err1 := readVLI(r)
		uncompressed, err2 := readVLI(r)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("xz: index: %w", noEOF(err))
		}
		writeXZRecord(records, unpadded, uncompressed)
	}
	if records.Sum64() != x.records.Sum64() {
		return errors.New("xz: the index does not match the blocks")
	}
	for r.n%4 != 0 {
		if c, err := r.ReadByte(); err != nil || c != 0 {
			return errors.New("xz: bad index padding")
		}
	}
	var tail [16]byte // index CRC32, then the footer
	if _, err := io.ReadFull(x.r, tail[:]); err != nil {
		return fmt.Errorf("xz: index: %w", noEOF(err))
	}
	footer := tail[4:]
	switch {
	case binary.LittleEndian.Uint32(tail[:4]) != r.crc.Sum32():
		return errors.New("xz: index checksum mismatch")
	case crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]):
		return errors.New("xz: footer checksum mismatch")
	case (int64(binary.LittleEndian.Uint32(footer[4:8]))+1)*4 != r.n+4:
		return errors.New("xz: the footer's index size is wrong")
	case !bytes.Equal(footer[8:10], x.flags) || !bytes.Equal(footer[10:], xzFooterEnd):
		return errors.New("xz: bad stream footer")
	}
	if _, err := x.r.ReadByte(); err != io.EOF {
		return errors.New("xz: data after the end of the stream")
	}
	return nil
}

// crcByteReader reads bytes, adding them to crc and counting them.
type crcByteReader struct {
	r   io.ByteReader
	crc hash.Hash32
	n   int64
	one [1]byte
}

func (c *crcByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.one[0] = b
		c.crc.Write(c.one[:])
		c.n++
	}
	return b, err
}

// readVLI reads an xz variable-length integer: up to 9 bytes, 7 bits each,
// least significant first, in its shortest form.
func readVLI(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range 9 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, errors.New("xz: integer not in its shortest form")
			}
			return v, nil
		}
	}
	return 0, errors.New("xz: integer longer than 9 bytes")
}

// noEOF turns io.EOF, where more was due, into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
