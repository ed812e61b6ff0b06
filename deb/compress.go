package deb

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// nopCloser adds a no-op Close to a writer.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// checkLevel validates a Spec.Level for c.
func checkLevel(c Compression, level int) error {
	switch {
	case level == 0:
		return nil
	case c == Gzip && (level < 1 || level > 9):
		return fmt.Errorf("gzip level %d: want 1 to 9", level)
	case c == Zstd && (level < 1 || level > 22):
		return fmt.Errorf("zstd level %d: want 1 to 22", level)
	case c == XZ || c == None:
		return fmt.Errorf("%s takes no compression level", c)
	}
	return nil
}

// compressor returns a writer compressing into w with c at level (0 means
// the default; for gzip, an encoder chosen per block, see gzipWriter).
// Closing it flushes the compressed stream but does not close w.
func compressor(w io.Writer, c Compression, level int) (io.WriteCloser, error) {
	switch c {
	case "", Gzip:
		return newGzipWriter(w, level)
	case Zstd:
		if level == 0 {
			level = 3
		}
		// Concurrency 2 only overlaps block encoding with match finding:
		// the stream is the same bytes as with one goroutine (and the
		// value is fixed, not GOMAXPROCS). WithConcurrentBlocks would
		// split the input into jobs, costing ratio and memory for no gain
		// on two cores.
		z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(2), zstd.WithWindowSize(4<<20))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return z, nil
	case XZ:
		// A 2 MiB dictionary keeps the encoder near 40 MB; 8 MiB (xz -6)
		// would take it past 64 MB for a gain of well under 1 %.
		cfg := xz.WriterConfig{DictCap: 2 << 20, CheckSum: xz.CRC32}
		z, err := cfg.NewWriter(w)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return &bufferedCloser{Writer: bufio.NewWriterSize(z, 64<<10), inner: z}, nil
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// bufferedCloser batches small tar writes before a slow compressor.
type bufferedCloser struct {
	*bufio.Writer
	inner io.Closer
}

func (b *bufferedCloser) Close() error {
	if err := b.Flush(); err != nil {
		return err
	}
	return b.inner.Close()
}

// decompressor returns a reader of the decompressed content of r. The
// returned close function releases decoder resources.
func decompressor(r *io.SectionReader, c Compression) (io.Reader, func(), error) {
	switch c {
	case Gzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return z, func() { z.Close() }, nil
	case Zstd:
		// The window cap bounds the decoder's memory whatever the header
		// claims.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return z, z.Close, nil
	case XZ:
		// Our own reader of the container: it checks every block's
		// dictionary against maxXZDict (see readxz.go).
		z, err := newXZReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() {}, nil
	case None:
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", c)
}

// compressionOfMember maps "data.tar.gz" style names to a Compression.
func compressionOfMember(name, prefix string) (Compression, bool) {
	switch name {
	case prefix + ".tar":
		return None, true
	case prefix + ".tar.gz":
		return Gzip, true
	case prefix + ".tar.zst":
		return Zstd, true
	case prefix + ".tar.xz":
		return XZ, true
	}
	return "", false
}
