package realparts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/debfleet/debfleet/deb"
)

// AgentDeb describes a small package for the agent's tests and benchmarks.
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

// BuildAgentDeb builds the package described by p with deb.Build into dir
// and returns its path.
func BuildAgentDeb(ctx context.Context, dir string, p AgentDeb) (string, error) {
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
	path := filepath.Join(dir, spec.Control.Filename())
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("build %s %s: %w", p.Package, p.Version, err)
	}
	if _, err := deb.Build(ctx, f, spec); err != nil {
		f.Close()
		return "", fmt.Errorf("build %s %s: %w", p.Package, p.Version, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("build %s %s: %w", p.Package, p.Version, err)
	}
	return path, nil
}
