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
	// Name is the package's, binary's and unit's name; default "hello".
	// Another name makes a copy of hello as a service of its own (a second
	// service on one host): its unit is systemd/service.template for
	// that name, and its maintainer scripts hello's, naming its unit.
	Name string
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
	name := h.name()
	dir := filepath.Join(h.Dir, name+"-"+h.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, h.Version, err)
	}
	bin := filepath.Join(dir, name)
	if h.Broken {
		script := fmt.Sprintf(brokenHello, h.Version, h.Version)
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			return "", fmt.Errorf("build %s %s: %w", name, h.Version, err)
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
	files, err := h.unitAndScripts(dir)
	if err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, h.Version, err)
	}
	args := []string{"build",
		"--name", name, "--version", h.Version, "--section", "net",
		"--maintainer", "debfleet demo <demo@example.com>",
		"--description", "example HTTP service (debfleet demo)\nhello answers HTTP requests with its version; SIGHUP restarts it without dropping a request.",
		"--file", bin + ":/usr/bin/" + name + ":0755",
		"--file", files["unit"] + ":/usr/lib/systemd/system/" + name + ".service",
		"--postinst", files["postinst"],
		"--prerm", files["prerm"],
		"--postrm", files["postrm"],
		"-o", h.Dir + "/",
	}
	cmd := exec.CommandContext(ctx, h.Pkgdeb, args...)
	cmd.Env = h.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pkgdeb build %s %s: %w\n%s", name, h.Version, err, stderr.String())
	}
	// pkgdeb prints "PATH SIZE bytes sha256 HEX".
	path, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path == "" {
		return "", fmt.Errorf("pkgdeb build %s %s: no output path in %q", name, h.Version, out)
	}
	return path, nil
}

func (h Hello) name() string {
	if h.Name == "" {
		return "hello"
	}
	return h.Name
}

// unitAndScripts returns the paths of the package's unit ("unit") and
// maintainer scripts: the repository's own for hello, copies renamed into
// dir for another name.
func (h Hello) unitAndScripts(dir string) (map[string]string, error) {
	repo := func(p string) string { return filepath.Join(h.Repo, p) }
	files := map[string]string{"unit": repo("systemd/hello.service")}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		files[s] = repo("packaging/hello/" + s)
	}
	name := h.name()
	if name == "hello" {
		return files, nil
	}
	tmpl, err := os.ReadFile(repo("systemd/service.template"))
	if err != nil {
		return nil, err
	}
	unit := strings.NewReplacer("@NAME@", name, "@ARGS@", "--listen :8080 --env-file -/etc/default/"+name).Replace(string(tmpl))
	files["unit"] = filepath.Join(dir, name+".service")
	if err := os.WriteFile(files["unit"], []byte(unit), 0o644); err != nil {
		return nil, err
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(files[s])
		if err != nil {
			return nil, err
		}
		files[s] = filepath.Join(dir, s)
		if err := os.WriteFile(files[s], []byte(strings.ReplaceAll(string(b), "hello.service", name+".service")), 0o755); err != nil {
			return nil, err
		}
	}
	return files, nil
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
