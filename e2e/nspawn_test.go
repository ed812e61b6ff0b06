package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/testenv"
)

// container is one booted systemd-nspawn container: systemd as PID 1 on a
// volatile overlay of the shared root (its writes go to a tmpfs and vanish
// with it), in the host's network namespace.
type container struct {
	name   string
	nspawn *exec.Cmd
	done   chan struct{}
	leader int // the container's PID 1, as the host sees it
	log    *testenv.SyncBuffer
}

// bootTimeout bounds a container's boot to "running" (or "degraded").
const bootTimeout = 90 * time.Second

// unpackRoot unpacks the cached root tarball into dir/rootfs once; every
// container boots on it read-only with its own overlay.
func unpackRoot(t *testing.T, tarball, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command("tar", "-C", root, "--numeric-owner", "-xzf", tarball).CombinedOutput()
	if err != nil {
		t.Fatalf("unpack %s: %v\n%s", tarball, err, out)
	}
	t.Logf("unpacked %s in %v", filepath.Base(tarball), time.Since(start).Round(100*time.Millisecond))
	return root
}

// boot starts a container named name on root with the host directory
// shared bound read-only at /mnt/e2e, and waits for systemd to finish
// booting. The container is stopped, and every mount under root's parent
// removed, when the test ends, whatever happened.
func boot(t *testing.T, root, name, shared string) *container {
	t.Helper()
	c := &container{name: name, done: make(chan struct{}), log: &testenv.SyncBuffer{}}
	c.nspawn = exec.Command("systemd-nspawn",
		"--boot", "--quiet",
		// No machined on the host to register with, and no unit of the
		// host's systemd to put the container in: it is our child.
		"--register=no", "--keep-unit",
		"--directory", root, "--volatile=overlay",
		"--machine", name,
		"--bind-ro", shared+":/mnt/e2e",
		"--console=pipe")
	c.nspawn.Stdout, c.nspawn.Stderr = c.log, c.log
	// Its own process group, and SIGTERM (which halts the container) if
	// the test binary dies without cleaning up.
	c.nspawn.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.nspawn.Start(); err != nil {
		t.Fatalf("start systemd-nspawn: %v", err)
	}
	go func() {
		c.nspawn.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(t, filepath.Dir(root)) })

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	err := testenv.WaitFor(ctx, name+"'s PID 1", func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		// nspawn forks helpers before the container's init; PID 1 is the
		// child that runs systemd.
		for _, pid := range demo.Children(c.nspawn.Process.Pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "systemd" {
				c.leader = pid
				return true
			}
		}
		return false
	})
	if err != nil || c.leader == 0 {
		t.Fatalf("%s did not start: %v\n%s", name, err, c.log.String())
	}
	// --wait returns once the boot is over: "running", or "degraded" when
	// a unit failed (a container lacks some hardware units); both are up.
	// systemctl cannot connect until PID 1 has made its socket.
	var out string
	for {
		out, err = c.run(ctx, nil, "systemctl", "is-system-running", "--wait")
		if !strings.Contains(out, "Failed to connect") || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	state := strings.TrimSpace(out)
	if state != "running" && state != "degraded" {
		failed, _ := c.run(ctx, nil, "systemctl", "--failed", "--no-pager")
		t.Fatalf("%s: systemctl is-system-running: %q (%v)\n%s\nconsole:\n%s", name, state, err, failed, c.log.String())
	}
	if state == "degraded" {
		failed, _ := c.run(ctx, nil, "systemctl", "--failed", "--no-pager", "--plain")
		t.Logf("%s booted degraded:\n%s", name, failed)
	}
	return c
}

// run runs a command inside the container (nsenter into its mount, UTS,
// IPC and PID namespaces; the network is the host's anyway) with a clean
// environment and stdin, and returns its combined output.
func (c *container) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	nsenter := append([]string{"--target", strconv.Itoa(c.leader), "--mount", "--uts", "--ipc", "--pid", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", nsenter...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s: %w\n%s", c.name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// must runs a command in the container and fails the test if it fails.
func (c *container) must(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.run(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// write writes a file in the container with the given mode.
func (c *container) write(t *testing.T, path, mode, content string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := `set -e; mkdir -p "$(dirname "$1")"; umask 077; cat >"$1.tmp"; chmod "$2" "$1.tmp"; mv "$1.tmp" "$1"`
	if _, err := c.run(ctx, []byte(content), "sh", "-c", script, "write", path, mode); err != nil {
		t.Fatal(err)
	}
}

// show returns systemctl show's properties of unit.
func (c *container) show(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out := c.must(t, "systemctl", "show", "--property", strings.Join(props, ","), unit)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// stop halts the container (SIGTERM makes systemd-nspawn ask PID 1 to halt;
// a second one, or SIGKILL after 30 s, ends it at once) and removes any
// mount it left under dir.
func (c *container) stop(t *testing.T, dir string) {
	select {
	case <-c.done:
	default:
		c.nspawn.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not halt within 30s; killing it", c.name)
			syscall.Kill(-c.nspawn.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	if err := unmountUnder(dir); err != nil {
		t.Errorf("clean up after %s: %v", c.name, err)
	}
}

// unmountUnder lazily unmounts every mount point at or below dir, deepest
// first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
