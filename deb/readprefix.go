package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ShortPrefixError is ReadControl's answer when the bytes it was given end
// before the control member does: the caller fetches the file's first
// Need bytes and calls it again.
type ShortPrefixError struct {
	// Have is how many bytes ReadControl was given.
	Have int64
	// Need is how many of the file's first bytes hold the control member
	// whole, or, when the bytes end before its header, the header. The
	// header always ends within the first 192 bytes (the ar magic,
	// debian-binary of at most 64 bytes, two member headers), so from 192
	// bytes on Need is final; the control member being capped at 16 MiB,
	// Need is at most 16 MiB and 192 bytes.
	Need int64
}

func (e *ShortPrefixError) Error() string {
	return fmt.Sprintf("the control member ends at byte %d, past the %d bytes read", e.Need, e.Have)
}

// ReadControl reads the control paragraph of a .deb from r, which holds
// the file's first n bytes (or all of it): the control member comes right
// after debian-binary at the start of the file, so the first KiBs usually
// hold it, and ReadControl reads nothing past it. It checks the ar
// container, debian-binary and the control tarball as Read does, within
// the same limits, and stays within Read's memory bound; it checks
// nothing of the data member, so a package it reads can still fail Read
// (and dpkg).
//
// When the control member does not end within the n bytes it returns a
// *ShortPrefixError saying how many would hold it. A caller that has the
// whole file and gets one has a truncated file.
func ReadControl(r io.ReaderAt, n int64) (Control, error) {
	if err := checkMagic(r, n); err != nil {
		return Control{}, err
	}
	off := int64(len(arMagic))
	bin, err := prefixMember(r, off, n)
	if err != nil {
		return Control{}, err
	}
	if bin.Name != "debian-binary" {
		return Control{}, fmt.Errorf("not a .deb: first member is %q, want debian-binary", bin.Name)
	}
	if bin.Size > maxDebianBinary {
		return Control{}, fmt.Errorf("debian-binary: %d bytes is too long", bin.Size)
	}
	off += arHeaderSize
	if err := within(off+bin.Size, n); err != nil {
		return Control{}, err
	}
	if err := readDebianBinary(io.NewSectionReader(r, off, bin.Size)); err != nil {
		return Control{}, err
	}
	off += bin.Size + bin.Size%2
	ctl, err := prefixMember(r, off, n)
	if err != nil {
		return Control{}, err
	}
	cc, err := controlCompression(ctl)
	if err != nil {
		return Control{}, err
	}
	off += arHeaderSize
	if err := within(off+ctl.Size, n); err != nil {
		return Control{}, err
	}
	p := &Package{Scripts: map[string][]byte{}}
	if _, err := p.readControl(io.NewSectionReader(r, off, ctl.Size), cc, &keeper{}); err != nil {
		return Control{}, fmt.Errorf("%s: %w", ctl.Name, err)
	}
	return p.Control, nil
}

// checkMagic checks the ar magic, or as much of it as the n bytes hold.
func checkMagic(r io.ReaderAt, n int64) error {
	have := min(n, int64(len(arMagic)))
	magic := make([]byte, have)
	if _, err := r.ReadAt(magic, 0); err != nil && have > 0 {
		return fmt.Errorf("read ar magic: %w", err)
	}
	if !bytes.Equal(magic, []byte(arMagic)[:have]) {
		return errors.New("not a .deb: no ar magic")
	}
	return within(int64(len(arMagic)), n)
}

// prefixMember parses the ar member header at off, when the n bytes hold
// it.
func prefixMember(r io.ReaderAt, off, n int64) (Member, error) {
	if err := within(off+arHeaderSize, n); err != nil {
		return Member{}, err
	}
	return readArHeader(r, off)
}

// within returns a *ShortPrefixError when the first end bytes are more
// than the n given.
func within(end, n int64) error {
	if end > n {
		return &ShortPrefixError{Have: n, Need: end}
	}
	return nil
}
