package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Packages for the memory tests. The hostile ones are small on disk and
// ask Read for far more memory than it may take.

// manyFilesDeb is a package Build makes of n small files in directories
// of 100, md5sums listing them all: a large real package.
func manyFilesDeb(t testing.TB, n int) []byte {
	t.Helper()
	spec := testSpec()
	for i := range n {
		spec.Entries = append(spec.Entries, deb.Entry{
			Dest: fmt.Sprintf("/usr/share/doc/a-package-name/dir-%03d/file-name-%05d.txt", i/100, i),
			Body: []byte(strconv.Itoa(i)),
		})
	}
	var b bytes.Buffer
	if _, err := deb.Build(t.Context(), &b, spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tarUnit is the tar bytes of hs (empty bodies, or zeros of the header's
// size), without the end of the archive.
func tarUnit(t testing.TB, hs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := tw.Write(make([]byte, h.Size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gzipRepeated is head, then unit n times, each compressed once as its own
// gzip member: gzip readers (dpkg's too) read concatenated members as one
// stream, so n copies of a large unit cost the file n small members.
func gzipRepeated(t testing.TB, head, unit []byte, n int) []byte {
	t.Helper()
	member := func(p []byte) []byte {
		var b bytes.Buffer
		z, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := z.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	out := member(head)
	m := member(unit)
	for range n {
		out = append(out, m...)
	}
	return out
}

// debWith packs a package of the three members.
func debWith(controlName string, control []byte, dataName string, data []byte) []byte {
	return arPack(arMember{name: "debian-binary", body: []byte("2.0\n")},
		arMember{name: controlName, body: control}, arMember{name: dataName, body: data})
}

// minimalControlGz is a control tarball with just a control file.
func minimalControlGz(t testing.TB) []byte {
	return tarGz(t, tarFile{name: "./control", body: []byte(minimalControl)})
}

// longNamesDeb holds n data entries with GNU long names of size bytes
// ("L" records), or symlinks with long targets ("K" records) when links.
func longNamesDeb(t testing.TB, n, size int, links bool) []byte {
	name := "./" + strings.Repeat("n", size-3)
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Format: tar.FormatGNU}
	if links {
		h = &tar.Header{Typeflag: tar.TypeSymlink, Name: "./s", Linkname: strings.Repeat("l", size-1), Format: tar.FormatGNU}
	}
	data := gzipRepeated(t, tarUnit(t, &tar.Header{Typeflag: tar.TypeDir, Name: "./"}), tarUnit(t, h), n)
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.gz", data)
}

// paxNamesDeb's control tarball holds n entries whose PAX path records
// are size bytes long (archive/tar reads up to 1 MiB of them).
func paxNamesDeb(t testing.TB, n, size int) []byte {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: "./" + strings.Repeat("p", size-3), Format: tar.FormatPAX}
	head := tarUnit(t, &tar.Header{Typeflag: tar.TypeReg, Name: "./control", Size: int64(len(minimalControl))})
	copy(head[512:], minimalControl)
	control := gzipRepeated(t, head, tarUnit(t, h), n)
	return debWith("control.tar.gz", control, "data.tar.gz", tarGz(t, tarFile{name: "./a", body: []byte("a")}))
}

// manyEntriesDeb's data tarball holds n empty regular files that md5sums
// does not list, all named like name.
func manyEntriesDeb(t testing.TB, n int, name string) []byte {
	data := gzipRepeated(t, nil, tarUnit(t, &tar.Header{Typeflag: tar.TypeReg, Name: name, Uname: "root", Gname: "root", Format: tar.FormatGNU}), n)
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.gz", data)
}

// controlFilesDeb's control tarball holds the files named, each of size
// bytes of md5sums lines (short ones, so that parsed they take the most).
func controlFilesDeb(t testing.TB, size int, names ...string) []byte {
	line := "0123456789abcdef0123456789abcdef  a\n"
	body := []byte(strings.Repeat(line, size/len(line)))
	files := []tarFile{{name: "./control", body: []byte(minimalControl)}}
	for _, n := range names {
		files = append(files, tarFile{name: "./" + n, body: body})
	}
	return debWith("control.tar.gz", tarGz(t, files...), "data.tar.gz", tarGz(t, tarFile{name: "./a", body: []byte("a")}))
}

// xzBlock is one block of a hand-made xz stream.
type xzBlock struct {
	lzma2 []byte // LZMA2 chunks, end marker included
	size  int64  // uncompressed
	crc   uint32 // CRC32 of the uncompressed content
	dict  byte   // the dictionary size the header declares, as coded (40: 4 GiB)
}

// xzStream assembles an xz stream with CRC32 checks, valid to the index
// and footer, from blocks whose headers declare what the test likes.
func xzStream(blocks ...xzBlock) []byte {
	le32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	pad4 := func(b []byte) []byte { return append(b, make([]byte, -len(b)&3)...) }
	flags := []byte{0, 1} // CRC32
	out := le32(append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, flags...), crc32.ChecksumIEEE(flags))
	index := binary.AppendUvarint([]byte{0}, uint64(len(blocks)))
	for _, b := range blocks {
		hdr := []byte{2, 0, 0x21, 1, b.dict, 0, 0, 0} // 12 bytes, one filter, no sizes
		hdr = le32(hdr, crc32.ChecksumIEEE(hdr))
		out = append(out, hdr...)
		out = le32(pad4(append(out, b.lzma2...)), b.crc)
		index = binary.AppendUvarint(index, uint64(len(hdr)+len(b.lzma2)+4))
		index = binary.AppendUvarint(index, uint64(b.size))
	}
	index = pad4(index)
	index = le32(index, crc32.ChecksumIEEE(index))
	out = append(out, index...)
	tail := append(le32(nil, uint32(len(index)/4-1)), flags...)
	return append(le32(out, crc32.ChecksumIEEE(tail)), append(tail, 'Y', 'Z')...)
}

// lzma2Stored is p as LZMA2 uncompressed chunks (dictionary reset first).
func lzma2Stored(p []byte) []byte {
	var out []byte
	for ctl := byte(1); len(p) > 0; ctl = 2 {
		n := min(len(p), 64<<10)
		out = append(append(out, ctl, byte((n-1)>>8), byte(n-1)), p[:n]...)
		p = p[n:]
	}
	return append(out, 0)
}

// lzma2Zeros is n*2 MiB of zeros as LZMA2 data of about n*370 bytes: one
// 2 MiB chunk from the encoder, then copies of it that reset the state
// (so each decodes the same) but keep the dictionary.
func lzma2Zeros(t testing.TB, n int) (data []byte, crc uint32) {
	t.Helper()
	const chunk = 2 << 20
	var b bytes.Buffer
	w, err := lzma.Writer2Config{DictCap: 1 << 20}.NewWriter2(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, chunk)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	first := b.Bytes()
	// One LZMA chunk (dictionary and state reset, properties) of 2 MiB,
	// then the end marker.
	if first[0] != 0xff || first[1] != 0xff || first[2] != 0xff || len(first) != 6+(int(first[3])<<8|int(first[4]))+1+1 {
		t.Fatalf("the encoder did not write one 2 MiB chunk: % x", first[:min(len(first), 8)])
	}
	first = first[:len(first)-1]
	again := append([]byte{0xa0 | first[0]&0x1f}, first[1:5]...) // state reset, no properties
	again = append(again, first[6:]...)
	data = append([]byte(nil), first...)
	zero := make([]byte, chunk)
	crc = crc32.ChecksumIEEE(zero)
	for range n - 1 {
		data = append(data, again...)
		crc = crc32.Update(crc, crc32.IEEETable, zero)
	}
	return append(data, 0), crc
}

// xzDictDeb's data.tar.xz is a tar header for ./big in a block with a
// 1 MiB dictionary, then n*2 MiB of zeros (its content, and the end of the
// archive) in a second block whose header declares a dictionary of dict
// (coded: 40 is 4 GiB).
func xzDictDeb(t testing.TB, n int, dict byte) []byte {
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.xz", xzDictStream(t, n, dict))
}

// xzDictStream is xzDictDeb's data.tar.xz.
func xzDictStream(t testing.TB, n int, dict byte) []byte {
	size := int64(n)*2<<20 - 1024
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./big", Size: size, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	hdr := b.Bytes() // one block; the content follows in the next xz block
	zeros, crc := lzma2Zeros(t, n)
	return xzStream(
		xzBlock{lzma2: lzma2Stored(hdr), size: int64(len(hdr)), crc: crc32.ChecksumIEEE(hdr), dict: 8},
		xzBlock{lzma2: zeros, size: int64(n) * 2 << 20, crc: crc, dict: dict},
	)
}

// xzBlocksDeb's data.tar.xz is n blocks of one zero byte each, whose
// headers each declare a dictionary of dict (coded).
func xzBlocksDeb(t testing.TB, n int, dict byte) []byte {
	blocks := make([]xzBlock, n)
	for i := range blocks {
		blocks[i] = xzBlock{lzma2: lzma2Stored([]byte{0}), size: 1, crc: crc32.ChecksumIEEE([]byte{0}), dict: dict}
	}
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.xz", xzStream(blocks...))
}

// zstdWindowDeb's data.tar.zst, compressed with a window of window bytes,
// holds one file of size zeros.
func zstdWindowDeb(t testing.TB, window int, size int64) []byte {
	t.Helper()
	var b bytes.Buffer
	z, err := zstd.NewWriter(&b, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(z)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./big", Size: size, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(zero)) {
		tw.Write(zero[:min(left, int64(len(zero)))])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.zst", b.Bytes())
}

// continuationDeb's control file has one field continued on lines of
// " x" up to size bytes.
func continuationDeb(t testing.TB, size int) []byte {
	ctl := minimalControl + strings.Repeat(" x\n", size/3)
	return debWith("control.tar.gz", tarGz(t, tarFile{name: "./control", body: []byte(ctl)}), "data.tar.gz", tarGz(t, tarFile{name: "./a", body: []byte("a")}))
}

// xzFullDeb's data.tar.xz, in one block with a dictionary of dict bytes,
// is a file of dict zeros (which fill the dictionary), then n entries
// named name (GNU long names if need be).
func xzFullDeb(t testing.TB, dict, n int, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	z, err := xz.WriterConfig{DictCap: dict, CheckSum: xz.CRC32}.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	z.Write(tarUnit(t, &tar.Header{Typeflag: tar.TypeReg, Name: "./big", Size: int64(dict)}))
	entry := tarUnit(t, &tar.Header{Typeflag: tar.TypeReg, Name: name, Uname: "root", Gname: "root", Format: tar.FormatGNU})
	for range n {
		z.Write(entry)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.xz", b.Bytes())
}

// zstdFramesDeb's data.tar.zst is n frames of one zero byte each, whose
// headers each declare a window of window bytes.
func zstdFramesDeb(t testing.TB, n, window int) []byte {
	t.Helper()
	var b bytes.Buffer
	z, err := zstd.NewWriter(&b, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	frame := z.EncodeAll([]byte{0}, nil)
	return debWith("control.tar.gz", minimalControlGz(t), "data.tar.zst", bytes.Repeat(frame, n))
}
