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

	"github.com/debfleet/debfleet/internal/realparts"
)

// container is one booted systemd-nspawn container: systemd as PID 1 on a
// volatile overlay of the shared root (its writes go to a tmpfs and vanish
// with it), in the host's network namespace.
type container struct {
	name   string
	nspawn *exec.Cmd
	done   chan struct{}
	leader int // the container's PID 1, as the host sees it
	log    *realparts.SyncBuffer
	// cgroups are the container's own cgroup directories, one per
	// hierarchy, when the test made them (see boot).
	cgroups []string
}

// bootTimeout bounds a container's boot to "running" (or "degraded"),
// which includes cloud-init's final stage when it runs: the agent's
// first install.
const bootTimeout = 3 * time.Minute

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
	// What a cloud image configures for its cloud: here a NoCloud seed,
	// or none and cloud-init stays disabled; no network configuration,
	// since the containers share the host's network; and no locale (a
	// minbase root has none to set, and cloud-init would fail on it).
	cfg := "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\nlocale: false\n"
	if err := os.WriteFile(filepath.Join(root, "etc/cloud/cloud.cfg.d/99-debfleet-e2e.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatalf("configure cloud-init in the root: %v", err)
	}
	return root
}

// boot starts a container named name on root with the host directory
// shared bound read-only at /mnt/e2e, and the extra systemd-nspawn
// arguments (more binds), and waits for systemd to finish booting. The
// container is stopped, and every mount under root's parent removed, when
// the test ends, whatever happened.
func boot(t *testing.T, root, name, shared string, extra ...string) *container {
	t.Helper()
	c := &container{name: name, done: make(chan struct{}), log: &realparts.SyncBuffer{}}
	args := []string{"systemd-nspawn", "--boot", "--quiet",
		"--directory", root, "--volatile=overlay",
		"--machine", name,
		"--bind-ro", shared + ":/mnt/e2e",
		"--console=pipe"}
	args = append(args, extra...)
	var env []string
	// On a host that runs systemd, nspawn registers the container with
	// machined, which gives it a scope (a cgroup) of its own.
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		// The host does not run systemd: there is no machined to register
		// with and no unit to put the container in, so nspawn keeps the
		// cgroup it starts in and puts the container's under it. Each
		// container needs a cgroup of its own, or their systemds would
		// share one tree and manage (and kill) each other's services.
		c.cgroups = makeCgroups(t, fmt.Sprintf("debfleet-e2e-%d-%s", os.Getpid(), name))
		args = append(args, "--register=no", "--keep-unit")
		args = append([]string{"sh", "-c", `for g in $CGROUPS; do echo $$ >"$g/cgroup.procs" || exit 1; done; exec "$@"`, "sh"}, args...)
		env = append(os.Environ(), "CGROUPS="+strings.Join(c.cgroups, " "))
	}
	c.nspawn = exec.Command(args[0], args[1:]...)
	c.nspawn.Env = env
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
	err := realparts.WaitFor(ctx, name+"'s PID 1", func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		// nspawn forks helpers before the container's init; PID 1 is the
		// child that runs systemd.
		for _, pid := range realparts.Children(c.nspawn.Process.Pid) {
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
	// Until PID 1 has made /run/systemd/system and its socket, systemctl
	// says "offline" or cannot connect.
	var out string
	for {
		out, err = c.run(ctx, nil, "systemctl", "is-system-running", "--wait")
		if (!strings.Contains(out, "Failed to connect") && strings.TrimSpace(out) != "offline") || ctx.Err() != nil {
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
	for _, g := range c.cgroups {
		if err := removeCgroup(g); err != nil {
			t.Errorf("clean up after %s: %v", c.name, err)
		}
	}
}

// makeCgroups creates a cgroup named name in the hierarchy that tracks
// processes for systemd (name=systemd on a legacy or hybrid host) and in
// the unified one, and returns their directories.
func makeCgroups(t *testing.T, name string) []string {
	t.Helper()
	var dirs []string
	for _, h := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil {
			continue
		}
		if h == "/sys/fs/cgroup" && len(dirs) > 0 {
			continue // a hybrid host's tmpfs, not a hierarchy
		}
		d := filepath.Join(h, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("make a cgroup for the container: %v", err)
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		t.Fatal("no cgroup hierarchy under /sys/fs/cgroup to put the containers in")
	}
	return dirs
}

// removeCgroup removes a cgroup and the ones the container's systemd made
// under it, deepest first; they are empty once the container is gone.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
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
