package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
)

// Hello describes one hello release to build.
type Hello struct {
	// Repo is the repository root: examples/hello, systemd/hello.service
	// and packaging/hello's maintainer scripts are taken from there.
	Repo string
	// Pkgdeb is the pkgdeb binary (bin/pkgdeb).
	Pkgdeb string
	// Dir receives the binary and the .deb.
	Dir string
	// Version is the package version, stamped into the binary too
	// (-X main.version), so /version answers it.
	Version string
	// Broken packages a /usr/bin/hello that exits at once instead of
	// hello: the restarted service never becomes ready, the agent's
	// health check fails and the host must roll back by itself. It
	// stands for the most common bad release, one that crashes on start.
	Broken bool
	// Env is the environment for go build and pkgdeb; nil means ours.
	Env []string
}

// brokenHello is the /usr/bin/hello of a broken release.
const brokenHello = `#!/bin/sh
# hello %s, broken on purpose by the debfleet demo: it exits before it is
# ready, so the agent's health check fails and the host rolls back.
echo "hello %s: fatal: cannot start (broken on purpose)" >&2
exit 1
`

// Build compiles hello (or writes the broken stand-in) and packages it
// with `pkgdeb build`, flags only, as a user without a pkgdeb.yaml would.
// It returns the .deb's path.
func (h Hello) Build(ctx context.Context) (string, error) {
	dir := filepath.Join(h.Dir, "hello-"+h.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build hello %s: %w", h.Version, err)
	}
	bin := filepath.Join(dir, "hello")
	if h.Broken {
		script := fmt.Sprintf(brokenHello, h.Version, h.Version)
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			return "", fmt.Errorf("build hello %s: %w", h.Version, err)
		}
	} else {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin,
			"-ldflags", "-s -w -X main.version="+h.Version, "./examples/hello")
		cmd.Dir, cmd.Env = h.Repo, h.env()
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build hello %s: %w\n%s", h.Version, err, out)
		}
	}
	repo := func(p string) string { return filepath.Join(h.Repo, p) }
	args := []string{"build",
		"--name", "hello", "--version", h.Version, "--section", "net",
		"--maintainer", "debfleet demo <demo@example.com>",
		"--description", "example HTTP service (debfleet demo)\nhello answers HTTP requests with its version; SIGHUP restarts it without dropping a request.",
		"--file", bin + ":/usr/bin/hello:0755",
		"--file", repo("systemd/hello.service") + ":/usr/lib/systemd/system/hello.service",
		"--postinst", repo("packaging/hello/postinst"),
		"--prerm", repo("packaging/hello/prerm"),
		"--postrm", repo("packaging/hello/postrm"),
		"-o", h.Dir + "/",
	}
	cmd := exec.CommandContext(ctx, h.Pkgdeb, args...)
	cmd.Env = h.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pkgdeb build hello %s: %w\n%s", h.Version, err, stderr.String())
	}
	// pkgdeb prints "PATH SIZE bytes sha256 HEX".
	path, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path == "" {
		return "", fmt.Errorf("pkgdeb build hello %s: no output path in %q", h.Version, out)
	}
	return path, nil
}

func (h Hello) env() []string {
	if h.Env != nil {
		return append([]string(nil), h.Env...)
	}
	return os.Environ()
}

// Load drives bounded HTTP load (realparts.Load) at several addresses at
// once, until Stop.
type Load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	results []*realparts.LoadResult
}

// StartLoad starts workers keep-alive clients per address, each run
// bounded by limit (and 10 million requests) in case Stop is never called.
func StartLoad(ctx context.Context, addrs []string, workers int, limit time.Duration) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, results: make([]*realparts.LoadResult, len(addrs))}
	for i, addr := range addrs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.results[i] = realparts.Load(ctx, realparts.LoadOptions{
				Addr: addr, Workers: workers, KeepAlive: true, Duration: limit,
				MaxRequests: 10_000_000, Timeout: 10 * time.Second,
			})
		}()
	}
	return l
}

// Stop ends the load, waits for the requests in flight and returns one
// result per address, in the order given to StartLoad.
func (l *Load) Stop() []*realparts.LoadResult {
	l.cancel()
	l.wg.Wait()
	return l.results
}

// Errors renders a load result's failures on one line ("" when none).
func Errors(r *realparts.LoadResult) string {
	var parts []string
	for msg, n := range r.Errors {
		parts = append(parts, fmt.Sprintf("%dx %s", n, msg))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
