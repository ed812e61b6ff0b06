package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
	"github.com/debfleet/debfleet/restart"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	interrupted := ctx.Err() != nil
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil && interrupted {
		fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	hosts         int
	interval      time.Duration
	healthTimeout time.Duration
	workers       int
	bin           string
	limit         time.Duration
}

// host is one simulated server: an agent, a dpkg root, a hello.
type host struct {
	name, dir, root, stateDir, pidFile, addr string
	agent                                    *exec.Cmd
	agentDone                                chan error
	hello                                    *exec.Cmd
	helloDone                                chan error

	installed, switched, rolledBack time.Duration // after each publish
	oldPID, newPID                  int
	requests, failures              int64
}

// story prints numbered lines with the time since the start.
type story struct {
	w     io.Writer
	start time.Time
}

func (s *story) say(format string, args ...any) {
	fmt.Fprintf(s.w, "[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// indent prints a command's output under the story line that ran it.
func (s *story) indent(out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fmt.Fprintf(s.w, "           %s\n", sc.Text())
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.hosts, "hosts", 3, "number of simulated servers")
	fs.DurationVar(&o.interval, "interval", time.Second, "agent check interval (the agent's default is 10s; short so the demo is quick)")
	fs.DurationVar(&o.healthTimeout, "health-timeout", 10*time.Second, "how long a restarted hello has to prove healthy before the agent rolls back")
	fs.IntVar(&o.workers, "workers", 2, "keep-alive load clients per host")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding pkgdeb and autoupdate (make build)")
	fs.DurationVar(&o.limit, "limit", 4*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: demo [flags]   (run from the repository root; scripts/demo builds first)

Three servers (agents with sandboxed dpkg roots, each running its own hello)
follow one release channel in a local versitygw; publishes 1.0.0, 1.1.0
under load, a broken 1.2.0, then rolls the channel back.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.hosts < 1 || o.hosts > 20 {
		return fmt.Errorf("--hosts %d: want 1 to 20", o.hosts)
	}
	ctx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	d := &driver{o: o, s: &story{w: stdout, start: time.Now()}}
	err := d.run(ctx)
	d.cleanup()
	if err == nil {
		d.summary()
	}
	fmt.Fprintf(stdout, "\nLogs: %s (agent.log and hello.log per host, dpkg's log in each root's var/log/dpkg.log)\n", d.work)
	fmt.Fprintf(stdout, "Remove them with: rm -rf %s\n", d.work)
	return err
}

// driver runs the demo and remembers what to stop.
type driver struct {
	o       options
	s       *story
	work    string
	repo    string
	env     []string
	srv     *realparts.S3Server
	rel     *release.Client
	channel release.Address
	hosts   []*host
	debs    map[string]string
	total   time.Duration
	stopped int
}

func (d *driver) run(ctx context.Context) error {
	var err error
	if d.repo, err = os.Getwd(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d.repo, "go.mod")); err != nil {
		return errors.New("run the demo from the repository root (make demo)")
	}
	for _, b := range []string{"pkgdeb", "autoupdate"} {
		if _, err := os.Stat(filepath.Join(d.o.bin, b)); err != nil {
			return fmt.Errorf("%s/%s is missing: run make build first (make demo does)", d.o.bin, b)
		}
	}
	d.o.bin, _ = filepath.Abs(d.o.bin)
	if d.work, err = os.MkdirTemp("", "debfleet-demo-"); err != nil {
		return err
	}
	if err := restart.BecomeSubreaper(); err != nil {
		return err
	}
	s := d.s
	s.say("debfleet demo: %d servers follow one release channel in a local S3 server; work dir %s", d.o.hosts, d.work)

	// The S3 server and the channel.
	os.Setenv(realparts.EnvS3BucketPrefix, "debfleet-demo-")
	if d.srv, err = realparts.StartS3(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	bucket, err := d.srv.CreateBucket(ctx, true)
	if err != nil {
		return err
	}
	d.channel = release.Address{Bucket: bucket, Key: "hello/production.deb"}
	s.say("S3: versitygw (pid %d) on %s, bucket %s with versioning on; the release channel is %s",
		d.srv.PID(), d.srv.Endpoint, bucket, d.channel)
	// Everything below finds the server through the AWS SDK's standard
	// variables (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...), as it would
	// find AWS.
	d.env = append(realparts.DpkgEnv(), d.srv.Env()...)
	d.env = append(d.env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(time.Now().Unix(), 10))
	if d.rel, err = release.New(ctx, release.Options{Endpoint: d.srv.Endpoint, Region: d.srv.Region, Credentials: d.srv.Credentials()}); err != nil {
		return err
	}

	if err := d.buildReleases(ctx); err != nil {
		return err
	}
	if _, err := d.pkgdeb(ctx, "keygen", "--out", filepath.Join(d.work, "release")); err != nil {
		return err
	}

	// 1.0.0: the first install on every host.
	t0, err := d.publish(ctx, "1.0.0")
	if err != nil {
		return err
	}
	if err := d.startAgents(ctx); err != nil {
		return err
	}
	_, err = demo.WaitHosts(ctx, d.rel, d.channel, d.names(), func(st fleet.HostStatus) bool {
		return st.State == fleet.StateOK && st.Version == "1.0.0"
	}, func(st fleet.HostStatus) {
		h := d.host(st.Host)
		h.installed = time.Since(t0)
		s.say("%s: agent installed hello 1.0.0 into its dpkg root %.1fs after the publish", h.name, h.installed.Seconds())
	})
	if err != nil {
		return err
	}
	for _, h := range d.hosts {
		if err := d.startHello(ctx, h); err != nil {
			return err
		}
	}

	// 1.1.0 under load: every host switches, no request fails.
	s.say("load: %d keep-alive clients per host, every request counted; a refused, reset or unanswered request is a failure", d.o.workers)
	if err := d.upgrade(ctx); err != nil {
		return err
	}
	// 1.2.0 is broken: every host rolls back by itself.
	if err := d.badRelease(ctx); err != nil {
		return err
	}

	// The operator rolls the channel back, so that new servers do not
	// install 1.2.0; the fleet already runs 1.1.0 and has nothing to do.
	s.say("the fleet healed itself, but the channel still offers 1.2.0 to new servers: roll the channel back")
	if _, err := d.pkgdeb(ctx, "rollback", d.channel.String(), "--to", "previous", "--sign-key", d.key()); err != nil {
		return err
	}
	if _, err := d.pkgdeb(ctx, "history", d.channel.String()); err != nil {
		return err
	}
	// Give every agent a few checks to see the restored release.
	time.Sleep(3 * d.o.interval)
	if err := d.status(ctx); err != nil {
		return err
	}
	d.total = time.Since(s.start)
	return nil
}

func (d *driver) names() []string {
	var n []string
	for _, h := range d.hosts {
		n = append(n, h.name)
	}
	return n
}

func (d *driver) host(name string) *host {
	for _, h := range d.hosts {
		if h.name == name {
			return h
		}
	}
	return &host{name: name}
}

func (d *driver) key() string { return filepath.Join(d.work, "release.key") }

// buildReleases builds hello 1.0.0, 1.1.0 and the broken 1.2.0.
func (d *driver) buildReleases(ctx context.Context) error {
	start := time.Now()
	d.debs = map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		h := demo.Hello{Repo: d.repo, Pkgdeb: filepath.Join(d.o.bin, "pkgdeb"), Dir: filepath.Join(d.work, "debs"),
			Version: v, Broken: v == "1.2.0", Env: d.env}
		path, err := h.Build(ctx)
		if err != nil {
			return err
		}
		d.debs[v] = path
	}
	d.s.say("built hello 1.0.0, 1.1.0 and 1.2.0 with go build + pkgdeb build in %.1fs (1.2.0 is broken on purpose: its binary exits before it is ready)",
		time.Since(start).Seconds())
	return nil
}

// pkgdeb runs bin/pkgdeb, showing the command and its output.
func (d *driver) pkgdeb(ctx context.Context, args ...string) (string, error) {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.TrimPrefix(a, d.work+"/")
	}
	d.s.say("$ pkgdeb %s", strings.Join(shown, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(d.o.bin, "pkgdeb"), args...)
	cmd.Env, cmd.Dir = d.env, d.work
	out, err := cmd.CombinedOutput()
	d.s.indent(string(out))
	if err != nil {
		return string(out), fmt.Errorf("pkgdeb %s: %w", args[0], err)
	}
	return string(out), nil
}

// publish publishes version's .deb, signed, and returns when it did.
func (d *driver) publish(ctx context.Context, version string) (time.Time, error) {
	_, err := d.pkgdeb(ctx, "publish", "--sign-key", d.key(), d.debs[version], d.channel.String())
	return time.Now(), err
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
		}
		h.agent, h.agentDone, err = d.start(filepath.Join(d.o.bin, "autoupdate"), args, filepath.Join(h.dir, "agent.log"))
		if err != nil {
			return err
		}
		d.hosts = append(d.hosts, h)
	}
	d.s.say("started %d agents: autoupdate --interval %s --dpkg-root HOST/root --pidfile HOST/hello.pid --health-url .../healthz --expect-version .../version --public-key release.pub (the demo's interval is short; the default is 10s)",
		len(d.hosts), d.o.interval)
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
	h.hello, h.helloDone, err = d.start(bin, []string{"--listen", h.addr, "--pidfile", h.pidFile}, filepath.Join(h.dir, "hello.log"))
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

// upgrade publishes 1.1.0 under load and waits for every host to serve
// it from a new process.
func (d *driver) upgrade(ctx context.Context) error {
	load := demo.StartLoad(ctx, d.addrs(), d.o.workers, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // let the load reach full speed first
	t0, err := d.publish(ctx, "1.1.0")
	if err != nil {
		load.Stop()
		return err
	}
	_, err = demo.WaitHosts(ctx, d.rel, d.channel, d.names(), func(st fleet.HostStatus) bool {
		return st.State == fleet.StateOK && st.Version == "1.1.0"
	}, func(st fleet.HostStatus) {
		h := d.host(st.Host)
		h.switched = time.Since(t0)
		h.newPID = readPID(h.pidFile)
		d.s.say("%s: now serving 1.1.0 (GET /version: %s), pid %d -> %d, %.1fs after the publish",
			h.name, strings.TrimSpace(get(h.addr, "/version")), h.oldPID, h.newPID, h.switched.Seconds())
	})
	time.Sleep(500 * time.Millisecond) // requests after the switch count too
	res := d.account(load.Stop(), "the 1.1.0 rollout")
	if err != nil {
		return err
	}
	if res > 0 {
		return fmt.Errorf("%d requests failed during the 1.1.0 rollout", res)
	}
	return nil
}

// badRelease publishes the broken 1.2.0 under load and waits for every
// host to roll back to 1.1.0 by itself.
func (d *driver) badRelease(ctx context.Context) error {
	load := demo.StartLoad(ctx, d.addrs(), d.o.workers, 2*time.Minute)
	time.Sleep(500 * time.Millisecond)
	t0, err := d.publish(ctx, "1.2.0")
	if err != nil {
		load.Stop()
		return err
	}
	d.s.say("each agent installs 1.2.0 and signals hello; the new binary dies, the old process keeps serving; after --health-timeout %s the agent puts 1.1.0 back",
		d.o.healthTimeout)
	_, err = demo.WaitHosts(ctx, d.rel, d.channel, d.names(), func(st fleet.HostStatus) bool {
		return st.State == fleet.StateRolledBack && st.Target != nil && st.Target.Version == "1.2.0" && st.Version == "1.1.0"
	}, func(st fleet.HostStatus) {
		h := d.host(st.Host)
		h.rolledBack = time.Since(t0)
		msg := strings.ReplaceAll(st.Error, h.dir+"/", "HOST/")
		d.s.say("%s: rolled back to 1.1.0 by itself %.1fs after the publish (serving %s, pid %d); reason: %s",
			h.name, h.rolledBack.Seconds(), strings.TrimSpace(get(h.addr, "/version")), readPID(h.pidFile), msg)
	})
	time.Sleep(500 * time.Millisecond)
	res := d.account(load.Stop(), "the bad release and its rollback")
	if err != nil {
		return err
	}
	if res > 0 {
		return fmt.Errorf("%d requests failed during the bad release", res)
	}
	for _, h := range d.hosts {
		if v := strings.TrimSpace(get(h.addr, "/version")); v != "1.1.0" {
			return fmt.Errorf("%s serves %q after the rollback, want 1.1.0", h.name, v)
		}
	}
	return nil
}

func (d *driver) addrs() []string {
	var a []string
	for _, h := range d.hosts {
		a = append(a, h.addr)
	}
	return a
}

// account adds a phase's load results to each host and prints them; it
// returns the number of failed requests.
func (d *driver) account(results []*realparts.LoadResult, phase string) int64 {
	var req, fail int64
	for i, r := range results {
		h := d.hosts[i]
		h.requests += r.Requests
		h.failures += r.Failures
		req += r.Requests
		fail += r.Failures
		if r.Failures > 0 {
			d.s.say("%s: %d of %d requests failed: %s", h.name, r.Failures, r.Requests, demo.Errors(r))
		}
	}
	d.s.say("during %s: %d requests served by %d hosts, %d failed", phase, req, len(results), fail)
	return fail
}

// status shows the fleet summary. pkgdeb status exits 1 unless every
// host runs the channel's current release, so it is a check too.
func (d *driver) status(ctx context.Context) error {
	_, err := d.pkgdeb(ctx, "status", d.channel.String())
	return err
}

// cleanup stops every process the demo started, even after a failure.
func (d *driver) cleanup() {
	for _, h := range d.hosts {
		if h.agent != nil && demo.Stop(h.agent.Process.Pid, 10*time.Second) {
			d.s.say("%s: agent ignored SIGTERM for 10s; killed", h.name)
		}
		if h.agent != nil {
			<-h.agentDone
			d.stopped++
		}
	}
	// The PID file names hello's current generation; the process the demo
	// started may have been replaced long ago. Each drains for about a
	// second, so they stop together.
	var wg sync.WaitGroup
	for _, h := range d.hosts {
		if pid := readPID(h.pidFile); pid > 0 && restart.Alive(pid) {
			d.stopped++
			wg.Add(1)
			go func() {
				defer wg.Done()
				demo.Stop(pid, 10*time.Second)
			}()
		}
	}
	wg.Wait()
	for _, h := range d.hosts {
		if h.hello != nil {
			demo.Stop(h.hello.Process.Pid, 5*time.Second)
			<-h.helloDone
		}
	}
	// Anything else still running that the demo started or adopted.
	for _, pid := range realparts.Children(os.Getpid()) {
		if d.srv != nil && pid == d.srv.PID() {
			continue
		}
		demo.Stop(pid, 5*time.Second)
		d.stopped++
	}
	if d.srv != nil {
		if err := d.srv.Close(); err != nil {
			d.s.say("stop versitygw: %v", err)
		}
		d.stopped++
	}
	demo.Reap()
	if left := realparts.Children(os.Getpid()); len(left) > 0 {
		d.s.say("WARNING: processes still running: %v", left)
	}
	d.s.say("stopped %d processes (agents, hello services, versitygw)", d.stopped)
}

// summary prints one line per host.
func (d *driver) summary() {
	w := tabwriter.NewWriter(d.s.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(d.s.w)
	fmt.Fprintf(d.s.w, "Summary (%s in all, agents checking every %s):\n", d.total.Round(100*time.Millisecond), d.o.interval)
	fmt.Fprintln(w, "HOST\tADDRESS\tDPKG SAYS\tINSTALL 1.0.0\tSWITCH TO 1.1.0\tPID\tROLL BACK 1.2.0\tREQUESTS\tFAILED")
	for _, h := range d.hosts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.1fs\t%.1fs\t%d->%d\t%.1fs\t%d\t%d\n", h.name, h.addr, dpkgVersion(h.root),
			h.installed.Seconds(), h.switched.Seconds(), h.oldPID, h.newPID, h.rolledBack.Seconds(), h.requests, h.failures)
	}
	w.Flush()
}

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
