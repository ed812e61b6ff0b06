package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
)

const inspectHelp = `Usage: pkgdeb inspect [--json] PACKAGE.deb

Show a .deb's control fields, its files as dpkg-deb -c lists them (mode,
owner, size, path; "link to X" for a hard link, "-> X" for a symlink), its
conffiles and maintainer scripts, and check every file against md5sums (a
hard link against the content it shares).
Exits non-zero when the package cannot be read or md5sums do not verify.
Whoever built the package chose every name and field: characters a
terminal would act on (escape sequences, carriage returns, bidi overrides)
are printed as Go escapes (\x1b, \r, \u202e); --json has the exact texts.

Examples:
  pkgdeb inspect dist/hello_1.2.3_amd64.deb
  pkgdeb inspect --json dist/hello_1.2.3_amd64.deb | jq '.control.Version'

Flags:
`

// inspectJSON is the --json output.
type inspectJSON struct {
	File        string            `json:"file"`
	Control     map[string]string `json:"control"`
	Fields      []deb.Field       `json:"fields"`
	Members     []deb.Member      `json:"members"`
	Compression deb.Compression   `json:"compression"`
	Files       []fileJSON        `json:"files"`
	Conffiles   []string          `json:"conffiles"`
	Scripts     map[string]string `json:"scripts"`
	MD5Sums     md5JSON           `json:"md5sums"`
}

type fileJSON struct {
	Path string `json:"path"`
	// Type is "file", "dir", "symlink", "hardlink", "char-device",
	// "block-device" or "fifo".
	Type  string `json:"type"`
	Mode  string `json:"mode"` // octal, e.g. "0755"
	Owner string `json:"owner"`
	Group string `json:"group"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Size  int64  `json:"size"`
	// Target is what a symlink points to, or the earlier entry a hard
	// link shares its content with, as stored (e.g. "./usr/bin/x").
	Target string `json:"target,omitempty"`
	// MD5 is a regular file's, or a hard link's shared content's.
	MD5    string `json:"md5,omitempty"`
	Device string `json:"device,omitempty"` // "major,minor"
}

type md5JSON struct {
	Verified   bool     `json:"verified"`
	Mismatches []string `json:"mismatches"`
	Error      string   `json:"error,omitempty"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb inspect", inspectHelp, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.Usagef("want exactly one .deb file, got %d arguments", len(pos))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := pos[0]
	p, err := deb.ReadFile(name)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	verr := p.Verify()
	if *asJSON {
		if err := printInspectJSON(stdout, name, p, verr); err != nil {
			return err
		}
	} else {
		printInspectText(stdout, name, p, verr)
	}
	if verr != nil {
		return fmt.Errorf("inspect %s: %w", name, verr)
	}
	return nil
}

func printInspectJSON(w io.Writer, name string, p *deb.Package, verr error) error {
	out := inspectJSON{
		File: name, Control: map[string]string{}, Fields: p.Fields, Members: p.Members,
		Compression: p.Compression, Files: []fileJSON{}, Conffiles: p.Conffiles,
		Scripts: map[string]string{},
		MD5Sums: md5JSON{Verified: verr == nil, Mismatches: p.MD5Mismatches},
	}
	if out.Conffiles == nil {
		out.Conffiles = []string{}
	}
	if out.MD5Sums.Mismatches == nil {
		out.MD5Sums.Mismatches = []string{}
	}
	if verr != nil {
		out.MD5Sums.Error = verr.Error()
	}
	for _, f := range p.Fields {
		out.Control[f.Name] = f.Value
	}
	for _, f := range p.Files {
		fj := fileJSON{
			Path: f.Path, Type: typeName(f), Mode: fmt.Sprintf("%04o", unixMode(f.Mode)),
			Owner: f.Uname, Group: f.Gname, UID: f.Uid, GID: f.Gid, Size: f.Size,
			Target: f.LinkTarget, MD5: f.MD5,
		}
		if isDevice(f) {
			fj.Device = fmt.Sprintf("%d,%d", f.Devmajor, f.Devminor)
		}
		out.Files = append(out.Files, fj)
	}
	for k, v := range p.Scripts {
		out.Scripts[k] = string(v)
	}
	if err := writeJSON(w, out, true); err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	return nil
}

// printInspectText writes p in human form: everything the package holds
// (names, fields, paths, owners) goes through visible, since whoever
// built it chose every byte.
func printInspectText(w io.Writer, name string, p *deb.Package, verr error) {
	var b strings.Builder
	members := make([]string, 0, len(p.Members))
	for _, m := range p.Members {
		members = append(members, fmt.Sprintf("%s (%d bytes)", visible(m.Name), m.Size))
	}
	fmt.Fprintf(&b, "%s\n  members: %s\n\n", visible(name), strings.Join(members, ", "))
	for _, f := range p.Fields {
		// Continuation lines of multi-line fields keep their leading
		// space: a newline in a value always starts one (deb.Read).
		fmt.Fprintf(&b, "%s: %s\n", visible(f.Name), visibleLines(f.Value))
	}
	fmt.Fprintf(&b, "\nFiles (%d):\n", len(p.Files))
	width := 1
	for _, f := range p.Files {
		width = max(width, len(sizeColumn(f)))
	}
	for _, f := range p.Files {
		owner := f.Uname
		if owner == "" {
			owner = fmt.Sprint(f.Uid)
		}
		group := f.Gname
		if group == "" {
			group = fmt.Sprint(f.Gid)
		}
		line := fmt.Sprintf("%s %s/%s %*s %s", modeString(f), visible(owner), visible(group), width, sizeColumn(f), visible(f.Path))
		switch f.Type {
		case deb.Hardlink:
			line += " link to " + visible(f.LinkTarget)
		case deb.Symlink:
			line += " -> " + visible(f.LinkTarget)
		}
		b.WriteString(line + "\n")
	}
	if len(p.Conffiles) > 0 {
		b.WriteString("\nConffiles:\n")
		for _, c := range p.Conffiles {
			b.WriteString("  " + visible(c) + "\n")
		}
	}
	if len(p.Scripts) > 0 {
		b.WriteString("\nScripts:\n")
		for _, s := range []string{"preinst", "postinst", "prerm", "postrm", "config", "triggers", "templates", "shlibs", "symbols"} {
			if body, ok := p.Scripts[s]; ok {
				fmt.Fprintf(&b, "  %s (%d bytes)\n", s, len(body))
			}
		}
	}
	b.WriteString("\n")
	if verr == nil {
		b.WriteString("md5sums: OK\n")
	} else {
		fmt.Fprintf(&b, "md5sums: FAILED: %s\n", visible(verr.Error()))
		for _, m := range p.MD5Mismatches {
			b.WriteString("  mismatch: " + visible(m) + "\n")
		}
	}
	io.WriteString(w, b.String())
}

// unixMode returns the permission bits of m as a Unix mode number.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// isDevice says whether f is a character or block device.
func isDevice(f deb.FileInfo) bool {
	return f.Type == deb.Other && (f.Typeflag == '3' || f.Typeflag == '4')
}

// typeName names f's type for --json: EntryType's names, with Other told
// apart.
func typeName(f deb.FileInfo) string {
	if f.Type != deb.Other {
		return f.Type.String()
	}
	switch f.Typeflag {
	case '3':
		return "char-device"
	case '4':
		return "block-device"
	case '6':
		return "fifo"
	}
	return f.Type.String()
}

// sizeColumn is what tar -tv prints for f's size: "major,minor" for a
// device.
func sizeColumn(f deb.FileInfo) string {
	if isDevice(f) {
		return fmt.Sprintf("%d,%d", f.Devmajor, f.Devminor)
	}
	return fmt.Sprint(f.Size)
}

// modeString renders a mode as tar -tv (and so dpkg-deb -c) does:
// "drwxr-xr-x", "h" for a hard link.
func modeString(f deb.FileInfo) string {
	m := f.Mode
	b := []byte("----------")
	switch f.Type {
	case deb.Dir:
		b[0] = 'd'
	case deb.Symlink:
		b[0] = 'l'
	case deb.Hardlink:
		b[0] = 'h'
	case deb.Other:
		b[0] = map[byte]byte{'3': 'c', '4': 'b', '6': 'p'}[f.Typeflag]
		if b[0] == 0 {
			b[0] = '?'
		}
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	special := func(pos int, set bool, on, off byte) {
		if !set {
			return
		}
		if b[pos] == 'x' {
			b[pos] = on
		} else {
			b[pos] = off
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
