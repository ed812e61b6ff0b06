package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"time"
)

// fileSum is the md5 of one regular file of the data tarball.
type fileSum struct {
	path string // as in md5sums: "usr/bin/x"
	sum  string
}

// writeData streams the data tarball through the compressor into w, and
// returns the md5sums lines and the Installed-Size in KiB (deb-substvars(5):
// regular files and symlinks count their size rounded up to KiB, every other
// object 1 KiB). A hard link adds nothing: dpkg-gencontrol counts an inode
// once. md5sums lists it under its own name, as dh_md5sums does.
func writeData(ctx context.Context, w io.Writer, items []item, comp Compression, level int, mtime time.Time) ([]fileSum, int64, error) {
	zw, err := compressor(w, comp, level)
	if err != nil {
		return nil, 0, err
	}
	defer zw.Close()
	tw := tar.NewWriter(zw)
	buf := make([]byte, copyBuffer)
	var sums []fileSum
	sumOf := map[string]string{} // dest -> md5, for later hard links
	var kib int64
	h := md5.New()
	th := newTeeHash(tw, h)
	defer th.close()
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		hdr := header(it.name, it.mode, mtime)
		switch it.typ {
		case Dir:
			hdr.Typeflag = tar.TypeDir
			kib++
		case Symlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = it.target
			kib += (int64(len(it.target)) + 1023) / 1024
		case Hardlink:
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = "." + it.target
			sums = append(sums, fileSum{path: it.dest[1:], sum: sumOf[it.target]})
		case Regular:
			h.Reset()
			size, err := writeFile(ctx, tw, th, hdr, it, buf)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", it.dest, err)
			}
			kib += (size + 1023) / 1024
			sum := hex.EncodeToString(h.Sum(nil))
			sums = append(sums, fileSum{path: it.dest[1:], sum: sum})
			if it.linked {
				sumOf[it.dest] = sum
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", it.dest, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return sums, kib, nil
}

// header returns a tar header owned by root:root. GNU format, as dpkg-deb
// writes, which every dpkg reads (long names use GNU long-name records).
func header(name string, mode fs.FileMode, mtime time.Time) *tar.Header {
	m := int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return &tar.Header{
		Name: name, Mode: m, ModTime: mtime,
		Uname: "root", Gname: "root", Format: tar.FormatGNU,
	}
}

// writeFile writes one regular file's header and content, hashing it.
func writeFile(ctx context.Context, tw *tar.Writer, th *teeHash, hdr *tar.Header, it item, buf []byte) (int64, error) {
	hdr.Typeflag = tar.TypeReg
	var src io.Reader
	if it.source == "" {
		hdr.Size = int64(len(it.body))
		src = bytes.NewReader(it.body)
	} else {
		f, err := os.Open(it.source)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if !st.Mode().IsRegular() {
			return 0, fmt.Errorf("source %s is not a regular file", it.source)
		}
		hdr.Size = st.Size()
		src = &ctxReader{ctx: ctx, r: f}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(th, io.LimitReader(src, hdr.Size), buf)
	if err != nil {
		return n, err
	}
	if n != hdr.Size {
		return n, fmt.Errorf("source %s shrank while being read (%d of %d bytes)", it.source, n, hdr.Size)
	}
	return n, nil
}

// teeHash writes to w and hashes the same bytes on another goroutine, so
// that md5 overlaps with tar and compression instead of adding to them.
// Each Write returns only once both are done with p, so callers may reuse p
// (io.CopyBuffer does).
type teeHash struct {
	w   io.Writer
	h   hash.Hash
	in  chan []byte
	ack chan struct{}
}

// handoff is the smallest write worth a trip to the hashing goroutine.
const handoff = 64 << 10

func newTeeHash(w io.Writer, h hash.Hash) *teeHash {
	t := &teeHash{w: w, h: h, in: make(chan []byte), ack: make(chan struct{})}
	go func() {
		for p := range t.in {
			t.h.Write(p)
			t.ack <- struct{}{}
		}
	}()
	return t
}

func (t *teeHash) Write(p []byte) (int, error) {
	if len(p) < handoff {
		t.h.Write(p)
		return t.w.Write(p)
	}
	t.in <- p
	n, err := t.w.Write(p)
	<-t.ack
	return n, err
}

// close stops the hashing goroutine.
func (t *teeHash) close() { close(t.in) }
