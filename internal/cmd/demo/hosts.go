package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// host is one simulated server: an agent, a dpkg root, a hello.
type host struct {
	name, dir, root, stateDir, pidFile, addr string
	agent                                    *exec.Cmd
	agentDone                                chan error
	hello                                    *exec.Cmd
	helloDone                                chan error

	// after each publish
	installed, switched, rolledBack, configured, configRolledBack time.Duration
	oldPID, newPID                                                int
	requests, failures                                            int64
}

// startAgents starts one autoupdate per host, each with its own state
// directory and dpkg root.
func (d *driver) startAgents(ctx context.Context) error {
	for i := range d.o.hosts {
		h := &host{name: fmt.Sprintf("host-%d", i+1)}
		h.dir = filepath.Join(d.work, h.name)
		h.root, h.stateDir, h.pidFile = filepath.Join(h.dir, "root"), filepath.Join(h.dir, "state"), filepath.Join(h.dir, "hello.pid")
		if err := realparts.MakeDpkgRoot(h.root); err != nil {
			return err
		}
		addr, err := realparts.FreeAddr()
		if err != nil {
			return err
		}
		h.addr = addr
		args := []string{
			"--source", d.channel.String(), "--package", "hello",
			"--interval", d.o.interval.String(),
			"--host", h.name, "--state-dir", h.stateDir, "--dpkg-root", h.root,
			"--pidfile", h.pidFile,
			"--health-url", "http://" + addr + "/healthz",
			"--expect-version", "http://" + addr + "/version",
			"--health-timeout", d.o.healthTimeout.String(),
			"--public-key", filepath.Join(d.work, "release.pub"),
			"--config-source", d.config.String(), "--config-path", h.envFile(),
		}
		h.agent, h.agentDone, err = d.start(filepath.Join(d.o.bin, "autoupdate"), args, filepath.Join(h.dir, "agent.log"))
		if err != nil {
			return err
		}
		d.hosts = append(d.hosts, h)
	}
	d.s.say("started %d agents: autoupdate --interval %s --dpkg-root HOST/root --pidfile HOST/hello.pid --health-url .../healthz --expect-version .../version --public-key release.pub --config-source %s --config-path HOST/hello.env (the demo's interval is short; the default is 10s)",
		len(d.hosts), d.o.interval, d.config)
	return nil
}

// start runs a long-lived child in its own process group (a Ctrl-C reaches
// only the demo, which then stops everything in order), logging to log.
func (d *driver) start(bin string, args []string, log string) (*exec.Cmd, chan error, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = d.env, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, done, nil
}

// startHello starts the hello that dpkg installed in h's root, as a
// supervisor would on a real server (there is no systemd here).
func (d *driver) startHello(ctx context.Context, h *host) error {
	bin := filepath.Join(h.root, "usr/bin/hello")
	var err error
	// The leading - makes the file optional, as in systemd's
	// EnvironmentFile=: no config is published yet.
	args := []string{"--listen", h.addr, "--pidfile", h.pidFile, "--env-file", "-" + h.envFile()}
	h.hello, h.helloDone, err = d.start(bin, args, filepath.Join(h.dir, "hello.log"))
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(wctx, "http://"+h.addr+"/healthz"); err != nil {
		return fmt.Errorf("%s: hello did not start: %w (see %s/hello.log)", h.name, err, h.dir)
	}
	h.oldPID = h.hello.Process.Pid
	d.s.say("%s: started HOST/root/usr/bin/hello (pid %d) on %s", h.name, h.oldPID, h.addr)
	return nil
}

// envFile is the environment file hello reads and the config agent
// writes.
func (h *host) envFile() string { return filepath.Join(h.dir, "hello.env") }

// readPID returns the PID in path, or 0 when there is none (yet).
func readPID(path string) int {
	pid, _ := restart.ReadPIDFile(path)
	return pid
}

// get returns the body of a GET, or the error's text.
func get(addr, path string) string {
	// A fresh connection each time: a pooled one may reach a process
	// that is draining after an upgrade, and show its old version.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return string(b)
}

// dpkgVersion asks dpkg which hello version the host's root has.
func dpkgVersion(root string) string {
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Version} ${db:Status-Abbrev}", "hello").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
