package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
)

// stopGrace is how long an agent has to exit after SIGTERM.
const stopGrace = 5 * time.Second

// bench is one benchmark run: the S3 server, the counting proxy in front
// of it, the channel and the agents started.
type bench struct {
	o        options
	progress io.Writer
	pids     pidFile

	srv     *realparts.S3Server
	proxy   *realparts.S3Proxy
	client  *release.Client // direct to versitygw: not counted
	channel release.Address
	envFile string
	// key signs every release, as in production; pubKey is its public
	// half's file, given to every agent.
	key    *release.SigningKey
	pubKey string
	agents []*agentProc
}

// setup starts versitygw, a versioned bucket and the counting proxy.
func setup(ctx context.Context, o options, progress io.Writer) (b *bench, err error) {
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return nil, err
	}
	b = &bench{o: o, progress: progress, pids: pidFile{o.pids}}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.srv, err = realparts.StartS3(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	if b.srv.External {
		return nil, fmt.Errorf("%s is set: this benchmark measures a local versitygw", realparts.EnvS3Endpoint)
	}
	if err := b.pids.add(b.srv.PID()); err != nil {
		return nil, err
	}
	bucket, err := b.srv.CreateBucket(ctx, true)
	if err != nil {
		return nil, err
	}
	b.channel = release.Address{Bucket: bucket, Key: o.packageName + "/production.deb"}
	if b.proxy, err = realparts.StartS3Proxy(b.srv.Endpoint); err != nil {
		return nil, err
	}
	b.client, err = release.New(ctx, release.Options{Endpoint: b.srv.Endpoint, Region: b.srv.Region, Credentials: b.srv.Credentials()})
	if err != nil {
		return nil, err
	}
	// An empty env file keeps a host's /etc/default/autoupdate out of the
	// agents' settings.
	b.envFile = filepath.Join(o.work, "autoupdate.env")
	if err := os.WriteFile(b.envFile, nil, 0o644); err != nil {
		return nil, err
	}
	if b.key, err = release.GenerateKey(); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(o.work, "release.key"))
	os.Remove(filepath.Join(o.work, "release.pub"))
	if _, b.pubKey, err = release.WriteKeyPair(filepath.Join(o.work, "release"), b.key); err != nil {
		return nil, err
	}
	b.logf("versitygw %s, counting proxy %s, channel %s", b.srv.Endpoint, b.proxy.URL, b.channel)
	return b, nil
}

// close stops every agent, the proxy and versitygw.
func (b *bench) close() {
	b.stopAgents()
	if b.proxy != nil {
		b.proxy.Close()
		b.proxy = nil
	}
	if b.srv != nil {
		if err := b.srv.Close(); err != nil {
			b.logf("stop versitygw: %v", err)
		}
		b.srv = nil
	}
}

// stopAgents stops every agent, in parallel.
func (b *bench) stopAgents() {
	var wg sync.WaitGroup
	for _, a := range b.agents {
		wg.Go(func() { a.stop(stopGrace) })
	}
	wg.Wait()
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s bench-agent: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// publish builds the tiny package at version and publishes it to the
// channel directly (not through the proxy); it returns when the new
// version is current, the moment agents can first see it.
// The manifest carries policy (see fleet.Policy.Apply).
func (b *bench) publish(ctx context.Context, version string, policy fleet.Policy) (time.Time, *release.Manifest, error) {
	path, err := agentDeb(ctx, b.o.work, b.o.packageName, version)
	if err != nil {
		return time.Time{}, nil, err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, nil, err
	}
	sum := sha256.Sum256(body)
	m := &release.Manifest{
		Package: b.o.packageName, Version: version, Architecture: "all",
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)),
		PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "bench@localhost",
	}
	if err := policy.Apply(m); err != nil {
		return time.Time{}, nil, fmt.Errorf("publish %s %s: %w", b.o.packageName, version, err)
	}
	if _, err := b.client.Publish(ctx, b.channel, release.PublishInput{Body: bytes.NewReader(body), Manifest: m, Key: b.key}); err != nil {
		return time.Time{}, nil, fmt.Errorf("publish %s %s: %w", b.o.packageName, version, err)
	}
	return time.Now(), m, nil
}

// agentEnv is the agents' environment: ours without AWS or AUTOUPDATE
// settings, plus the server's credentials, and PATH with the sbin
// directories dpkg wants.
func (b *bench) agentEnv() []string {
	var env []string
	for _, kv := range realparts.DpkgEnv() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "AUTOUPDATE_") {
			continue
		}
		env = append(env, kv)
	}
	for _, kv := range b.srv.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3=") {
			kv = "AWS_ENDPOINT_URL_S3=" + b.proxy.URL
		}
		env = append(env, kv)
	}
	return env
}

// startAgent starts one autoupdate for host with a fresh state directory
// and dpkg sandbox root, talking to S3 through the proxy, with no service
// (no --pidfile, --reload-cmd or --health-url): it only installs.
func (b *bench) startAgent(ctx context.Context, host string, env []string) (*agentProc, error) {
	dir := filepath.Join(b.o.work, "agents", host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := dpkgRoot(dir)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--source", b.channel.String(), "--package", b.o.packageName,
		"--endpoint", b.proxy.URL, "--region", b.srv.Region,
		"--state-dir", filepath.Join(dir, "state"), "--dpkg-root", root,
		"--host", host, "--interval", b.o.interval.String(), "--env-file", b.envFile,
		"--public-key", b.pubKey,
	}
	a, err := startAgent(b.o.bin, host, root, filepath.Join(dir, "autoupdate.log"), args, env)
	if err != nil {
		return nil, err
	}
	b.agents = append(b.agents, a)
	if err := b.pids.add(a.pid()); err != nil {
		return nil, err
	}
	return a, nil
}

// checkAlive fails when an agent has exited, with the end of its log.
func (b *bench) checkAlive() error {
	for _, a := range b.agents {
		if a.exited() {
			out, _ := os.ReadFile(a.log)
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			return fmt.Errorf("agent %s exited (%v); end of its log:\n%s", a.host, a.cmd.ProcessState, out)
		}
	}
	return nil
}

// waitInstalled polls the dpkg database of every agent until all have
// version installed, and returns when each was first seen so (to the
// poll's resolution).
func (b *bench) waitInstalled(ctx context.Context, version string, poll time.Duration) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.phaseLimit)
	defer cancel()
	seen := make([]time.Time, len(b.agents))
	left := len(b.agents)
	lastReport := time.Now()
	for {
		for i, a := range b.agents {
			if !seen[i].IsZero() {
				continue
			}
			v, err := installedVersion(a.root, b.o.packageName)
			if err != nil {
				return nil, err
			}
			if v == version {
				seen[i] = time.Now()
				left--
			}
		}
		if left == 0 {
			return seen, nil
		}
		if err := b.checkAlive(); err != nil {
			return nil, err
		}
		if time.Since(lastReport) > 10*time.Second {
			b.logf("%d/%d agents have %s installed", len(b.agents)-left, len(b.agents), version)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d/%d agents to install %s: %w", left, len(b.agents), version, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// statusOK reads host's status object (directly, not through the proxy)
// until it reports version installed and healthy, for up to limit.
func (b *bench) statusOK(ctx context.Context, host, version string, limit time.Duration) (*agent.Status, error) {
	fc := fleet.New(b.client.Records(), nil)
	deadline := time.Now().Add(limit)
	for {
		st, err := fc.ReadHostStatus(ctx, b.channel, host)
		if err != nil {
			st = &agent.Status{}
		}
		if err == nil && st.State == "ok" && st.Version == version {
			return st, nil
		}
		if err != nil && !errors.Is(err, release.ErrNotFound) {
			return nil, fmt.Errorf("read status of %s: %w", host, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("status of %s: want ok %s, have %q %q (%v)", host, version, st.State, st.Version, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sleep waits d or until ctx ends, checking every second that the agents
// are still running.
func (b *bench) sleep(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		if err := b.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, time.Second)):
		}
	}
}

// percentile returns the p-th percentile (0-100) of ds, nearest rank.
func percentile[T int64 | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// table prints rows of cells with aligned columns.
func table(w io.Writer, rows [][]string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				line.WriteString(c)
				break
			}
			fmt.Fprintf(&line, "%-*s  ", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
	}
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "MISS"
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
