package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

var s3env = testenv.NewS3Env()

// channel is a release channel on the test S3 server.
type channel struct {
	srv    *testenv.S3Server
	client *release.Client
	addr   release.Address
}

func newChannel(t *testing.T) *channel {
	t.Helper()
	srv := s3env.Server(t)
	// 5 MiB parts: a hello package (over 5 MiB) goes multipart, so its
	// ETag is not an MD5.
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials(), PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return &channel{srv: srv, client: c, addr: release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}}
}

// proxied returns c as seen by a client whose requests go through an S3
// proxy (testenv.StartS3Proxy), which records them and injects the faults
// set on it, and that proxy.
func (c *channel) proxied(t testing.TB) (*channel, *realparts.S3Proxy) {
	t.Helper()
	p := testenv.StartS3Proxy(t, c.srv.Endpoint)
	client, err := release.New(t.Context(), release.Options{Endpoint: p.URL, Region: c.srv.Region, Credentials: c.srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return &channel{srv: c.srv, client: client, addr: c.addr}, p
}

// pub is a release ready to publish.
type pub struct {
	m    *release.Manifest
	body []byte
}

// manifest describes the .deb at path as pkgdeb publish would.
func manifest(t testing.TB, path string, at time.Time) pub {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := deb.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return pub{&release.Manifest{
		Package: p.Control.Package, Version: p.Control.Version, Architecture: p.Control.Architecture,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), PublishedAt: at.UTC().Truncate(time.Second),
		Publisher: "ci@test",
	}, b}
}

func (c *channel) publish(t testing.TB, p pub) *release.PublishResult {
	t.Helper()
	res, err := c.client.Publish(t.Context(), c.addr, release.PublishInput{Body: bytes.NewReader(p.body), Manifest: p.m, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// putRaw writes an object whose manifest need not match its bytes, which
// Publish refuses to do: a lying or corrupted release.
func (c *channel) putRaw(t *testing.T, p pub) {
	t.Helper()
	_, err := c.srv.Client().PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(c.addr.Bucket), Key: aws.String(c.addr.Key), Body: bytes.NewReader(p.body), Metadata: p.m.Metadata(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (c *channel) status(t *testing.T, host string) *Status {
	t.Helper()
	st := c.tryStatus(t, host)
	if st == nil {
		t.Fatalf("no status object for %s", host)
	}
	return st
}

// tryStatus reads host's status object; nil when there is none yet.
func (c *channel) tryStatus(t *testing.T, host string) *Status {
	t.Helper()
	out, err := c.srv.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(c.addr.Bucket), Key: aws.String(StatusKey(c.addr, host))})
	if err != nil {
		return nil
	}
	defer out.Body.Close()
	var st Status
	if err := json.NewDecoder(out.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func newAgent(t *testing.T, h *host, ch *channel, keys []release.PublicKey, logs io.Writer) *Agent {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	a, err := New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", PublicKeys: keys, AllowUnsigned: len(keys) == 0,
		Host: "web-1", Report: true, Interval: 50 * time.Millisecond,
		Installer: h.inst, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAgentEndToEnd follows one host through a release history on a real
// S3 server, with examples/hello running from a dpkg sandbox root.
func TestAgentEndToEnd(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	bad := filepath.Join(t.TempDir(), "hello-bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ch := newChannel(t)
	h := newHost(t)
	// Publication times step forward from a recent past: releases published
	// long before the channel's previous version was written read as copied back.
	t0 := time.Now().Add(-10 * time.Minute)

	debOf := func(p testenv.AgentDeb) string { return testenv.BuildAgentDeb(t, p) }
	signed := func(p testenv.AgentDeb, at time.Time) pub {
		r := manifest(t, debOf(p), at)
		key.SignFor(r.m, ch.addr)
		return r
	}
	v1 := testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bins["1.0"]}
	v2 := testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"]}

	// A new server: --once installs the current release before the
	// service runs; then the supervisor starts it.
	r1 := signed(v1, t0)
	m1 := r1.m
	ch.publish(t, r1)
	var logs bytes.Buffer
	a := newAgent(t, h, ch, []release.PublicKey{key.Public()}, &logs)
	if err := a.Once(t.Context()); err != nil {
		t.Fatalf("Once: %v\n%s", err, logs.String())
	}
	h.startService(t)
	if got := h.serving(t); got != "1.0" {
		t.Fatalf("serving %q after --once, want 1.0", got)
	}
	if st := ch.status(t, "web-1"); st.State != "ok" || st.Version != "1.0" || st.SHA256 != m1.SHA256 {
		t.Fatalf("status after --once: %+v", st)
	}

	steps := []struct {
		name        string
		publish     func(t *testing.T)
		wantOutcome Outcome
		wantErr     error // from Check
		wantServing string
		wantState   string // in the status object
		wantMsg     string // in the status object's error
	}{
		{"upgrade to 2.0, uploaded multipart", func(t *testing.T) {
			if res := ch.publish(t, signed(v2, t0.Add(time.Minute))); !res.Multipart {
				t.Fatal("2.0 was not uploaded multipart")
			}
		}, OK, nil, "2.0", "ok", ""},
		{"nothing new", func(t *testing.T) {}, "", nil, "2.0", "ok", ""},
		{"3.0 never gets ready", func(t *testing.T) {
			ch.publish(t, signed(testenv.AgentDeb{Package: "hello", Version: "3.0", Bin: bad}, t0.Add(2*time.Minute)))
		}, RolledBack, nil, "2.0", "rolled-back", "still names the old process"},
		{"postinst exits 1", func(t *testing.T) {
			ch.publish(t, signed(testenv.AgentDeb{Package: "hello", Version: "3.1", Bin: bins["2.0"], Postinst: "#!/bin/sh\nexit 1\n"}, t0.Add(3*time.Minute)))
		}, RolledBack, nil, "2.0", "rolled-back", "exit status 1"},
		{"unsigned", func(t *testing.T) {
			ch.publish(t, manifest(t, debOf(testenv.AgentDeb{Package: "hello", Version: "4.0"}), t0.Add(4*time.Minute)))
		}, StateRefused, nil, "2.0", "refused", "not signed"},
		{"signed by an unknown key", func(t *testing.T) {
			r := manifest(t, debOf(testenv.AgentDeb{Package: "hello", Version: "4.1"}), t0.Add(4*time.Minute))
			otherKey.Sign(r.m)
			ch.publish(t, r)
		}, StateRefused, nil, "2.0", "refused", "unknown key"},
		{"signed for another channel", func(t *testing.T) {
			r := manifest(t, debOf(testenv.AgentDeb{Package: "hello", Version: "4.3"}), t0.Add(4*time.Minute))
			key.SignFor(r.m, release.Address{Bucket: ch.addr.Bucket, Key: "hello/staging.deb"})
			ch.publish(t, r)
		}, StateRefused, nil, "2.0", "refused", "signed for s3://"},
		{"signed before channels were bound", func(t *testing.T) {
			r := manifest(t, debOf(testenv.AgentDeb{Package: "hello", Version: "4.4"}), t0.Add(4*time.Minute))
			key.Sign(r.m)
			ch.publish(t, r)
		}, StateRefused, nil, "2.0", "refused", "names no channel"},
		{"signature does not cover the manifest", func(t *testing.T) {
			r := signed(testenv.AgentDeb{Package: "hello", Version: "4.2"}, t0.Add(4*time.Minute))
			r.m.Publisher = "mallory@evil"
			ch.publish(t, r)
		}, StateRefused, nil, "2.0", "refused", "signature"},
		{"wrong package name", func(t *testing.T) {
			ch.publish(t, signed(testenv.AgentDeb{Package: "other", Version: "5.0"}, t0.Add(5*time.Minute)))
		}, StateRefused, nil, "2.0", "refused", `package "other"`},
		{"wrong architecture", func(t *testing.T) {
			ch.publish(t, signed(testenv.AgentDeb{Package: "hello", Version: "5.1", Architecture: "s390x"}, t0.Add(5*time.Minute)))
		}, StateRefused, nil, "2.0", "refused", "built for s390x"},
		{"replay of an old release", func(t *testing.T) { ch.publish(t, r1) }, StateRefused, nil, "2.0", "refused", "replay"},
		{"bytes do not match the manifest", func(t *testing.T) {
			r := signed(testenv.AgentDeb{Package: "hello", Version: "6.0"}, t0.Add(6*time.Minute))
			r.body = append([]byte{}, r.body...)
			r.body[len(r.body)-1] ^= 0xff
			ch.putRaw(t, r)
		}, "", release.ErrChecksumMismatch, "2.0", "refused", ""},
		{"rollback to 1.0, re-signed", func(t *testing.T) {
			if _, err := ch.client.Rollback(t.Context(), ch.addr, release.RollbackInput{To: "1.0", Key: key, Publisher: "ops@test"}); err != nil {
				t.Fatal(err)
			}
		}, OK, nil, "1.0", "ok", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.publish(t)
			logs.Reset()
			outcome, err := a.Check(t.Context())
			if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
				t.Fatalf("Check: err = %v, want %v\n%s", err, st.wantErr, logs.String())
			}
			if outcome != st.wantOutcome {
				t.Fatalf("Check = %q, want %q\n%s", outcome, st.wantOutcome, logs.String())
			}
			if got := h.serving(t); got != st.wantServing {
				t.Errorf("serving %q, want %q", got, st.wantServing)
			}
			status := ch.status(t, "web-1")
			if status.State != st.wantState || status.Version != st.wantServing || !strings.Contains(status.Error, st.wantMsg) {
				t.Errorf("status %+v, want state %s, version %s, error containing %q", status, st.wantState, st.wantServing, st.wantMsg)
			}
			if testing.Verbose() {
				t.Log(logs.String())
			}
			// Nothing half-downloaded is left behind.
			tmps, _ := filepath.Glob(filepath.Join(h.stateDir, "debs", ".tmp-*"))
			if len(tmps) > 0 {
				t.Errorf("temporary files left: %q", tmps)
			}
		})
	}

	// A restarted agent does not retry what failed on this host.
	t.Run("restarted agent skips a bad release", func(t *testing.T) {
		ch.publish(t, signed(testenv.AgentDeb{Package: "hello", Version: "3.0", Bin: bad}, t0.Add(10*time.Minute)))
		a := newAgent(t, h, ch, []release.PublicKey{key.Public()}, &logs)
		logs.Reset()
		if err := a.start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if outcome, err := a.Check(t.Context()); outcome != "" || err != nil {
			t.Fatalf("Check = %q, %v; want nothing done", outcome, err)
		}
		if !strings.Contains(logs.String(), "failed on this host before") {
			t.Errorf("no log line about the skipped release:\n%s", logs.String())
		}
	})

	t.Run("metrics", func(t *testing.T) {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{
			`autoupdate_releases_total{outcome="rolled-back"} 2`,
			`autoupdate_releases_total{outcome="refused"} 8`,
			`autoupdate_installed_info{version="1.0",sha256="` + m1.SHA256 + `",state="ok"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q:\n%s", want, body)
			}
		}
	})
}

// TestCredentialsStayOut is issue 13's finding: the agent's
// AWS_SECRET_ACCESS_KEY reached a postinst, then the status object through
// the postinst's output. Now no credential reaches the script, and what it
// prints of them anyway (reading the credentials file, as root can) is
// redacted from everything the agent writes: the status object, the
// failure record, the state directory, the log and Once's error.
func TestCredentialsStayOut(t *testing.T) {
	secrets := testenv.FakeCredentials(t)
	ch := newChannel(t)
	h := newHost(t)
	if err := os.WriteFile(filepath.Join(h.root, "etc/credentials"), []byte(secrets.File()), 0o600); err != nil {
		t.Fatal(err)
	}
	postinst := "#!/bin/sh\nenv > \"$DPKG_ROOT/tmp/postinst.env\"\ncat \"$DPKG_ROOT/etc/credentials\" >&2\nexit 1\n"
	r := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Postinst: postinst}), time.Now())
	ch.publish(t, r)
	var logs bytes.Buffer
	h.inst.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := newAgent(t, h, ch, nil, &logs)
	onceErr := a.Once(t.Context())
	if onceErr == nil {
		t.Fatal("Once succeeded; want the postinst's failure")
	}

	secrets.CheckEnvDump(t, filepath.Join(h.root, "tmp/postinst.env"), "the postinst")
	status := ch.status(t, "web-1")
	failures, err := ch.fleet().ReadFailures(t.Context(), ch.addr, r.m.SHA256)
	if err != nil || len(failures) != 1 {
		t.Fatalf("failure records: %+v, %v; want one", failures, err)
	}
	stateFiles, err := filepath.Glob(filepath.Join(h.stateDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var state strings.Builder
	for _, f := range stateFiles {
		b, _ := os.ReadFile(f) // directories read as nothing
		state.Write(b)
	}
	for what, text := range map[string]string{
		"the status object":   status.Error,
		"the failure record":  failures[0].Error,
		"the state directory": state.String(),
		"the log":             logs.String(),
		"Once's error":        onceErr.Error(),
	} {
		if leaks := secrets.Leaks(text); len(leaks) > 0 {
			t.Errorf("%s carries %v:\n%s", what, leaks, text)
		}
	}
	// The script's output did reach them, redacted.
	if !strings.Contains(status.Error, "AWS_SECRET_ACCESS_KEY=[redacted]") || !strings.Contains(failures[0].Error, "AWS_SECRET_ACCESS_KEY=[redacted]") {
		t.Errorf("status error %q, failure record error %q: want the postinst's redacted output", status.Error, failures[0].Error)
	}
}

// TestAgentChannelDown: an unreachable endpoint never touches the service
// or the state; Run keeps going, backs off, logs once, and recovers.
func TestAgentChannelDown(t *testing.T) {
	ch := newChannel(t)
	h := newHost(t)
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// A client for an endpoint where nothing listens.
	down, err := release.New(t.Context(), release.Options{Endpoint: "http://" + addr, Region: ch.srv.Region,
		Credentials: ch.srv.Credentials(), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	var logs realparts.SyncBuffer
	a, err := New(Config{
		Channel: ch.addr, Releases: down, Fleet: fleetOf(down), Package: "hello", Host: "web-2", Report: true, AllowUnsigned: true,
		Interval: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond,
		Installer: h.inst, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "release check failing"); n != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "status report failed"); n != 1 {
		t.Errorf("logged the failed status report %d times, want once:\n%s", n, out)
	}
	a.mu.Lock()
	failures := a.metrics.checkFailures
	a.mu.Unlock()
	// One second at 20..80 ms per attempt: several attempts, bounded by
	// the backoff.
	if failures < 5 || failures > 60 {
		t.Errorf("%d failed checks in 1s, want between 5 and 60", failures)
	}
	if s, _ := h.dir.Load(); s.Installed != nil || s.Installing != nil {
		t.Errorf("state changed while the channel was down: %+v", s)
	}
}

// TestUpgradeUnderLoad: while clients keep sending requests, the agent
// installs releases and restarts hello three times; not one request may
// fail, and the service must end on the release the channel holds.
func TestUpgradeUnderLoad(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep-alive=%v", keepAlive), func(t *testing.T) {
			ch := newChannel(t)
			h := newHost(t)
			v1 := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bins["1.0"]}), time.Now())
			v2 := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"]}), time.Now())
			ch.publish(t, v1)
			a := newAgent(t, h, ch, nil, nil)
			if err := a.Once(t.Context()); err != nil {
				t.Fatal(err)
			}
			h.startService(t)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			loadDone := make(chan *realparts.LoadResult, 1)
			go func() {
				loadDone <- realparts.Load(ctx, realparts.LoadOptions{Addr: h.addr, Workers: 4, KeepAlive: keepAlive, Duration: time.Minute})
			}()
			time.Sleep(200 * time.Millisecond)
			for i, p := range []pub{v2, v1, v2} {
				ch.publish(t, p)
				if out, err := a.Check(t.Context()); out != OK || err != nil {
					t.Fatalf("upgrade %d to %s: %s, %v; status: %+v", i+1, p.m.Version, out, err, ch.tryStatus(t, "web-1"))
				}
			}
			time.Sleep(200 * time.Millisecond)
			cancel()
			res := <-loadDone
			if res.Requests < 100 {
				t.Errorf("only %d requests sent: the load did not run", res.Requests)
			}
			if res.Failures != 0 {
				t.Errorf("%d of %d requests failed across 3 upgrades: %v", res.Failures, res.Requests, res.Errors)
			}
			if got := h.serving(t); got != "2.0" {
				t.Errorf("serving %q, want 2.0", got)
			}
			t.Logf("%d requests, %d failed", res.Requests, res.Failures)
		})
	}
}

// fleet is the fleet client over the channel's client.
func (ch *channel) fleet() *fleet.Client { return fleetOf(ch.client) }

// fleetOf is the fleet client over c's records, as the agent's command
// wires it.
func fleetOf(c *release.Client) *fleet.Client { return fleet.New(c.Records(), nil) }
