package deb_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// lintianOverrides are the tags inherent to a static Go binary, each with
// why it is fine for a service shipped this way. The file is part of the
// package, so every package of a Go service can carry the same one.
const lintianOverrides = `# Go binaries are statically linked by design (CGO_ENABLED=0): no libc
# dependency, one file to ship.
hello-svc: statically-linked-binary [usr/bin/hello-svc]
`

const manPage = `.TH HELLO-SVC 1 "November 2023" "hello-svc 1.2.3" "User Commands"
.SH NAME
hello-svc \- small HTTP service greeting its callers
.SH SYNOPSIS
.B hello-svc
.SH DESCRIPTION
.B hello-svc
answers HTTP requests with a greeting.
`

// gzipN compresses like gzip -9n.
func gzipN(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	z.OS = 3
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// goServiceSpec is a typical Go service package: a static Go binary built
// from source here, copyright, changelog, and lintian overrides.
func goServiceSpec(t *testing.T) *deb.Spec {
	t.Helper()
	goBin := lookTool(t, "go")
	dir := t.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hellosvc\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello-svc")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spec := testSpec()
	spec.Control.Package = "hello-svc"
	spec.Control.Version = "1.2.3-1"
	spec.Control.Section = "net"
	spec.Control.Priority = "optional"
	spec.Control.Homepage = "https://example.com/hello-svc"
	spec.Control.Synopsis = "small HTTP service greeting its callers"
	spec.Control.Description = "hello-svc answers HTTP requests with a greeting. It is a test\npackage built by the debfleet deb tests."
	spec.Entries = []deb.Entry{
		{Dest: "/usr/bin/hello-svc", Source: bin, Mode: 0o755},
		// Written absolute, as users do: Build makes it ../bin/hello-svc.
		{Type: deb.Symlink, Dest: "/usr/sbin/hello-svc", Target: "/usr/bin/hello-svc"},
		{Dest: "/etc/hello-svc/hello-svc.conf", Body: []byte("listen=127.0.0.1:8080\n")},
		{Dest: "/usr/share/lintian/overrides/hello-svc", Body: []byte(lintianOverrides)},
		{Dest: "/usr/share/man/man1/hello-svc.1.gz", Body: gzipN(t, manPage)},
	}
	spec.Copyright = []byte(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hello-svc
Source: https://example.com/hello-svc

Files: *
Copyright: 2024 Debfleet Tests <tests@example.com>
License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files, to deal in the Software
 without restriction.
`)
	spec.Changelog = []byte(`hello-svc (1.2.3-1) unstable; urgency=medium

  * New upstream release.

 -- Debfleet Tests <tests@example.com>  Tue, 14 Nov 2023 22:13:20 +0000

hello-svc (1.2.2-1) unstable; urgency=medium

  * Previous release.

 -- Debfleet Tests <tests@example.com>  Mon, 13 Nov 2023 10:00:00 +0000
`)
	return spec
}

// A typical Go service package is lintian-clean: no E: or W: lines, and
// only the overrides listed above.
func TestLintianGoService(t *testing.T) {
	lintian := lookTool(t, "lintian")
	spec := goServiceSpec(t)
	// Not zstd: bookworm's lintian rejects zstd members (see ZstdWarning).
	for _, c := range []deb.Compression{deb.Gzip, deb.XZ} {
		t.Run(string(c), func(t *testing.T) {
			spec.Compression = c
			p, _ := buildFile(t, spec)
			out, err := runTool(t, lintian, "--no-cfg", "--fail-on", "error,warning", "--display-level", ">=warning", p)
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W:") {
					t.Errorf("lintian: %s", l)
				}
			}
			if err != nil {
				t.Fatalf("lintian: %v\n%s", err, out)
			}
			// Every override is needed: the overridden tags are exactly
			// those the override file lists.
			out, _ = runTool(t, lintian, "--no-cfg", "--show-overrides", p)
			var overridden []string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "O: ") {
					overridden = append(overridden, strings.TrimPrefix(l, "O: "))
				}
			}
			want := "hello-svc: statically-linked-binary [usr/bin/hello-svc]"
			if len(overridden) != 1 || overridden[0] != want {
				t.Errorf("overridden tags %q, want only %q:\n%s", overridden, want, out)
			}
		})
	}
}
