package deb

import (
	"fmt"
	"io"
	"time"

	"github.com/blakesmith/ar"
)

// arMember is one member of the outer ar archive, to be written from body.
type arMember struct {
	name string
	size int64
	body io.Reader
}

// writeAr writes the ar archive of members to w and returns its size.
func writeAr(w io.Writer, members []arMember, mtime time.Time) (int64, error) {
	cw := &countWriter{w: w}
	aw := ar.NewWriter(cw)
	if err := aw.WriteGlobalHeader(); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	for _, m := range members {
		if err := writeMember(aw, m.name, m.size, m.body, mtime); err != nil {
			return 0, fmt.Errorf("write %s: %w", m.name, err)
		}
	}
	return cw.n, nil
}

// writeMember writes one ar member. blakesmith/ar pads after every Write of
// odd length and counts the pad byte in the returned n (which io.Copy takes
// for an invalid write), so the body goes through evenWriter: every Write
// reaching ar has even length except possibly the very last one, and the
// member gets exactly one pad byte, at its end, when its size is odd.
func writeMember(aw *ar.Writer, name string, size int64, body io.Reader, mtime time.Time) error {
	hdr := &ar.Header{Name: name, ModTime: mtime, Mode: 0o644, Size: size}
	if err := aw.WriteHeader(hdr); err != nil {
		return err
	}
	ew := &evenWriter{w: aw}
	buf := make([]byte, copyBuffer)
	n, err := io.CopyBuffer(ew, io.LimitReader(body, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("wrote %d bytes, header says %d", n, size)
	}
	return ew.flush()
}

// evenWriter forwards only even-length writes, holding back one byte when
// needed; flush writes the held byte last.
type evenWriter struct {
	w    io.Writer
	held []byte // 0 or 1 byte
	pair []byte
}

func (e *evenWriter) Write(p []byte) (int, error) {
	total := len(p)
	if len(e.held) == 1 && len(p) > 0 {
		e.pair = append(e.pair[:0], e.held[0], p[0])
		if _, err := e.w.Write(e.pair); err != nil {
			return 0, err
		}
		e.held = e.held[:0]
		p = p[1:]
	}
	even := len(p) &^ 1
	if even > 0 {
		if _, err := e.w.Write(p[:even]); err != nil {
			return 0, err
		}
	}
	if even < len(p) {
		e.held = append(e.held[:0], p[even])
	}
	return total, nil
}

func (e *evenWriter) flush() error {
	if len(e.held) == 0 {
		return nil
	}
	_, err := e.w.Write(e.held)
	e.held = e.held[:0]
	return err
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
