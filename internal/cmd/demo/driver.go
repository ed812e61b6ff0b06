package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
	"github.com/debfleet/debfleet/restart"
)

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
	// config is the config channel beside channel: hello's environment
	// file, published with pkgdeb publish --kind config.
	config  release.Address
	hosts   []*host
	debs    map[string]string
	total   time.Duration
	stopped int
}

// run tells the whole story: set up, build and sign the releases, then
// each phase in turn.
func (d *driver) run(ctx context.Context) error {
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.startDashboard()
	if err := d.buildReleases(ctx); err != nil {
		return err
	}
	if _, err := d.pkgdeb(ctx, "keygen", "--out", filepath.Join(d.work, "release")); err != nil {
		return err
	}
	for _, phase := range []func(context.Context) error{d.firstInstall, d.upgrade, d.badRelease, d.rollbackChannel, d.configChange, d.badConfig} {
		if err := phase(ctx); err != nil {
			return err
		}
	}
	d.total = time.Since(d.s.start)
	return nil
}

// setup checks that it runs from the repository root after make build,
// makes the work directory, becomes a subreaper (so every hello
// generation can be stopped at the end), and starts the S3 server with the
// channel's versioned bucket.
func (d *driver) setup(ctx context.Context) error {
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
	d.s.say("debfleet demo: %d servers follow one release channel in a local S3 server; work dir %s", d.o.hosts, d.work)

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
	d.config = release.Address{Bucket: bucket, Key: "hello/production.env"}
	d.s.say("S3: versitygw (pid %d) on %s, bucket %s with versioning on; the release channel is %s, hello's config channel %s",
		d.srv.PID(), d.srv.Endpoint, bucket, d.channel, d.config)
	// Everything below finds the server through the AWS SDK's standard
	// variables (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...), as it would
	// find AWS.
	d.env = append(realparts.DpkgEnv(), d.srv.Env()...)
	d.env = append(d.env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(time.Now().Unix(), 10))
	d.rel, err = release.New(ctx, release.Options{Endpoint: d.srv.Endpoint, Region: d.srv.Region, Credentials: d.srv.Credentials()})
	return err
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

func (d *driver) addrs() []string {
	var a []string
	for _, h := range d.hosts {
		a = append(a, h.addr)
	}
	return a
}

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

// pkgdeb runs bin/pkgdeb, showing the command and its output as it
// comes (a --wait prints a line per change).
func (d *driver) pkgdeb(ctx context.Context, args ...string) (string, error) {
	_, out, err := d.pkgdebExit(ctx, args...)
	if err != nil {
		return out, fmt.Errorf("pkgdeb %s: %w", args[0], err)
	}
	return out, nil
}

// pkgdebExit is pkgdeb, returning the exit status for the caller to
// judge (pkgdeb wait's 1 and 3 have meanings); err is for a pkgdeb that
// did not run or was killed.
func (d *driver) pkgdebExit(ctx context.Context, args ...string) (code int, out string, err error) {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.TrimPrefix(a, d.work+"/")
	}
	d.s.say("$ pkgdeb %s", strings.Join(shown, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(d.o.bin, "pkgdeb"), args...)
	lw := &lineWriter{s: d.s}
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = d.env, d.work, lw, lw
	err = cmd.Run()
	lw.flush()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode(), lw.all.String(), nil
	}
	if err != nil {
		return -1, lw.all.String(), err
	}
	return 0, lw.all.String(), nil
}

// waitArgs are the --wait flags of every write in the demo: readings
// every 250ms (the default 2s would add seconds to each step of a short
// demo), and a bound well within the demo's --limit.
func (d *driver) waitArgs() []string {
	return []string{"--wait", "--interval", "250ms", "--timeout", "2m"}
}

// publisher returns a step's publish of version's .deb, signed, followed
// with --wait (keepGoing: until every host has installed it or failed
// it); pkgdeb exits 0 once deployed, 1 once a host failed it.
func (d *driver) publisher(version string, keepGoing bool) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		args := append([]string{"publish", "--sign-key", d.key(), d.debs[version], d.channel.String()}, d.waitArgs()...)
		if keepGoing {
			args = append(args, "--keep-going")
		}
		code, _, err := d.pkgdebExit(ctx, args...)
		return code, err
	}
}
