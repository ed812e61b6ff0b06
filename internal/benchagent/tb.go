package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

// driverTB lets the driver call the testenv helpers that take a
// testing.TB (DpkgRoot, BuildAgentDeb) instead of copying them. Only the
// methods those helpers use are implemented; the embedded nil TB makes any
// other call panic, which the driver reports as a bug in itself.
type driverTB struct {
	testing.TB
	ctx context.Context
	dir string // parent of every TempDir
}

// tbFailure carries a Fatal or Skip out of a helper to withTB.
type tbFailure string

func (t *driverTB) Helper()                  {}
func (t *driverTB) Context() context.Context { return t.ctx }
func (t *driverTB) Fatal(args ...any)        { panic(tbFailure(fmt.Sprint(args...))) }
func (t *driverTB) Fatalf(format string, args ...any) {
	panic(tbFailure(fmt.Sprintf(format, args...)))
}
func (t *driverTB) Skipf(format string, args ...any) {
	panic(tbFailure("cannot run: " + fmt.Sprintf(format, args...)))
}

// TempDir returns a new directory under t.dir; the driver's work
// directory is removed as a whole at the end.
func (t *driverTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "tmp-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withTB runs f with a driverTB and turns its Fatal into an error.
func withTB(ctx context.Context, dir string, f func(t testing.TB)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, ok := r.(tbFailure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", msg)
		}
	}()
	f(&driverTB{ctx: ctx, dir: dir})
	return nil
}

// dpkgRoot makes an empty dpkg sandbox root under dir.
func dpkgRoot(ctx context.Context, dir string) (root string, err error) {
	err = withTB(ctx, dir, func(t testing.TB) { root = testenv.DpkgRoot(t) })
	return root, err
}

// agentDeb builds the benchmark's tiny package (one shell script).
func agentDeb(ctx context.Context, dir, pkg, version string) (path string, err error) {
	err = withTB(ctx, dir, func(t testing.TB) {
		path = testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: pkg, Version: version})
	})
	return path, err
}
