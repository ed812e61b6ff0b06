package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// AgentDeb describes a small package for the agent's tests.
type AgentDeb struct {
	// Package and Version are the control fields; Architecture defaults
	// to "all".
	Package, Version, Architecture string
	// Bin, when set, is a file installed as /usr/bin/<Package> (a real
	// service binary); otherwise that is a script printing Version.
	Bin string
	// Postinst, when set, is the postinst script (e.g. one that exits 1).
	Postinst string
	// Conffile, when set, is installed as /etc/<Package>.conf.
	Conffile string
	// EditConffile is not part of the package: a test that installs a
	// sequence of packages writes it over the conffile before installing
	// this one, as an operator's local change.
	EditConffile string
}

// BuildAgentDeb builds the package described by p with deb.Build into a
// temporary directory and returns its path.
func BuildAgentDeb(t testing.TB, p AgentDeb) string {
	t.Helper()
	arch := p.Architecture
	if arch == "" {
		arch = "all"
	}
	spec := &deb.Spec{
		Control: deb.Control{
			Package:      p.Package,
			Version:      p.Version,
			Architecture: arch,
			Maintainer:   "debfleet tests <tests@example.com>",
			Synopsis:     "agent test package",
			Description:  "A package built by the agent's tests.",
		},
		Entries: []deb.Entry{{
			Type:   deb.Regular,
			Dest:   "/usr/bin/" + p.Package,
			Source: p.Bin,
			Mode:   0o755,
		}},
	}
	if p.Bin == "" {
		spec.Entries[0].Body = []byte("#!/bin/sh\necho " + p.Version + "\n")
	}
	if p.Postinst != "" {
		spec.Scripts.Postinst = []byte(p.Postinst)
	}
	if p.Conffile != "" {
		spec.Entries = append(spec.Entries, deb.Entry{Type: deb.Regular, Dest: "/etc/" + p.Package + ".conf", Body: []byte(p.Conffile)})
	}
	path := filepath.Join(t.TempDir(), spec.Control.Filename())
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deb.Build(t.Context(), f, spec); err != nil {
		f.Close()
		t.Fatalf("build %s %s: %v", p.Package, p.Version, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
