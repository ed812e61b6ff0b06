package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// watchWriter collects a command's output and signals each write, so
// that a test acts on what the command printed, not after a sleep.
type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// pkgdebRun is one pkgdeb invocation running in the background.
type pkgdebRun struct {
	stdout *watchWriter
	stderr bytes.Buffer
	done   chan int
}

// startRun starts pkgdeb with args.
func startRun(t *testing.T, args ...string) *pkgdebRun {
	t.Helper()
	r := &pkgdebRun{stdout: &watchWriter{wrote: make(chan struct{}, 1)}, done: make(chan int, 1)}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	go func() {
		defer cancel()
		r.done <- run(ctx, args, r.stdout, &r.stderr)
	}()
	return r
}

// waitFor waits until the run printed text; it fails t if the run ends
// first or a minute passes.
func (r *pkgdebRun) waitFor(t *testing.T, text string) {
	t.Helper()
	limit := time.NewTimer(time.Minute)
	defer limit.Stop()
	for !strings.Contains(r.stdout.String(), text) {
		select {
		case <-r.stdout.wrote:
		case code := <-r.done:
			t.Fatalf("pkgdeb ended (exit %d) before printing %q:\n%s%s", code, text, r.stdout, r.stderr.String())
		case <-limit.C:
			t.Fatalf("pkgdeb did not print %q within a minute:\n%s", text, r.stdout)
		}
	}
}

// exit waits for the run's exit status.
func (r *pkgdebRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(2 * time.Minute):
		t.Fatal("pkgdeb did not end within 2 minutes")
		return -1
	}
}

// events decodes the event names of messages (webhook or --json).
func events(ms []map[string]any) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m["event"].(string))
	}
	return out
}

// TestWaitDeployed: a host finishing its install ends the wait with exit
// 0; the receiver gets started then completed, and stdout, not a
// terminal, has one line per change.
func TestWaitDeployed(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/wait-deployed.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, a, "web-2", "1.0", "installing", "1.1", "", time.Second)
	f.report(t, a, "web-9", "1.0", "ok", "", "", 2*time.Hour)
	hook := testenv.Webhook(t)

	r := startRun(t, "wait", "--interval", "100ms", "--notify", hook.URL, a.String())
	r.waitFor(t, "following the rollout")
	f.report(t, a, "web-2", "1.1", "ok", "", "", 0)
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, r.stdout, r.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	want := []string{"following the rollout of hello 1.1 on " + a.String() + ": 1/2 live hosts on it; 1 stale (not waited for)",
		"web-2 installing -> ok 1.1; 2/2 live hosts on it",
		"hello 1.1 deployed on " + a.String() + ": 2/2 live hosts in"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d (one per change):\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d %q lacks %q", i+1, lines[i], w)
		}
	}
	if !strings.Contains(lines[2], "1 stale, not waited for: web-9") {
		t.Errorf("the last line does not name the stale host: %q", lines[2])
	}
	got := hook.Messages(t)
	if !slices.Equal(events(got), []string{"started", "completed"}) {
		t.Fatalf("notifications %v, want started, completed", events(got))
	}
	if text := got[1]["text"].(string); !strings.Contains(text, "`hello` `1.1` deployed on `"+a.String()+"`: 2/2 live hosts") {
		t.Errorf("completed text %q", text)
	}
}

// TestWaitEnds: the ways a wait ends other than deployed, each with its
// exit status, the hosts named on stderr, and the notifications.
func TestWaitEnds(t *testing.T) {
	f := newFleetEnv(t)
	type host struct{ name, installed, state, target, err string }
	for _, tt := range []struct {
		name     string
		policy   []string // 1.1's rollout policy flags
		hosts    []host
		args     []string
		during   func(t *testing.T, a release.Address) // once the wait started
		wantCode int
		wantErr  []string
		events   []string
	}{
		{
			name:  "a host rolled back",
			hosts: []host{{"web-1", "1.1", "ok", "", ""}, {"web-2", "1.0", "installing", "1.1", ""}},
			during: func(t *testing.T, a release.Address) {
				f.report(t, a, "web-2", "1.0", "rolled-back", "1.1", "health check: 500", 0)
			},
			wantCode: 1,
			wantErr:  []string{"hello 1.1 FAILED on", "1 hosts failed it: web-2 (rolled-back 1.0: health check: 500)"},
			events:   []string{"started", "host-failed", "failed"},
		},
		{
			name:   "halted",
			policy: []string{"--max-updating", "2"},
			hosts:  []host{{"web-1", "1.1", "ok", "", ""}, {"web-2", "1.0", "installing", "1.1", ""}},
			during: func(t *testing.T, a release.Address) {
				mustRun(t, "halt", a.String(), "--reason", "error rate up")
			},
			wantCode: 1,
			wantErr:  []string{"hello 1.1 HALTED on", "error rate up"},
			events:   []string{"started", "halted"},
		},
		{
			name:     "timed out",
			hosts:    []host{{"web-1", "1.1", "ok", "", ""}, {"web-2", "1.0", "installing", "1.1", ""}},
			args:     []string{"--timeout", "1s"},
			wantCode: 3,
			wantErr:  []string{"timed out after", "1 behind: web-2 (installing 1.0)"},
			events:   []string{"started", "timed-out"},
		},
		{
			// The gate's alarm holds web-2 past the timeout: a failure
			// (exit 1), not slowness (3).
			name:     "gated past the timeout",
			policy:   []string{"--rollout", "50%,100%", "--wave-interval", "1h", "--gate-alarm", "api-5xx"},
			hosts:    []host{{"web-1", "1.1", "ok", "", ""}, {"web-2", "1.0", "gated", "1.1", `alarm "api-5xx" is in ALARM`}},
			args:     []string{"--timeout", "1s"},
			wantCode: 1,
			wantErr:  []string{"hello 1.1 GATED on", "1 hosts held by its rollout gate (web-2)", `alarm "api-5xx" is in ALARM`},
			events:   []string{"started", "gated"},
		},
		{
			name:  "superseded",
			hosts: []host{{"web-1", "1.0", "installing", "1.1", ""}},
			during: func(t *testing.T, a release.Address) {
				mustRun(t, "publish", relDeb(t, t.TempDir(), "1.2"), a.String())
			},
			wantCode: 1,
			wantErr:  []string{"hello 1.1 SUPERSEDED on", "the channel's release is now hello 1.2 (VersionId "},
			events:   []string{"started", "superseded"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := f.channelWith(t, "hello/"+strings.ReplaceAll(tt.name, " ", "-")+".deb", tt.policy...)
			for _, h := range tt.hosts {
				f.report(t, a, h.name, h.installed, h.state, h.target, h.err, time.Second)
			}
			hook := testenv.Webhook(t)
			args := append([]string{"wait", "--interval", "100ms", "--notify", hook.URL, a.String()}, tt.args...)
			r := startRun(t, args...)
			r.waitFor(t, "following the rollout")
			if tt.during != nil {
				tt.during(t, a)
			}
			code := r.exit(t)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, r.stdout, r.stderr.String())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr.String())
				}
			}
			if got := events(hook.Messages(t)); !slices.Equal(got, tt.events) {
				t.Errorf("notifications %v, want %v", got, tt.events)
			}
		})
	}
}

// TestWaitSupersededBefore: --version-id of a version that is no longer
// current ends at once, saying what replaced it.
func TestWaitSupersededBefore(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/old-version.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	code, out, errs := relRun(t, "wait", "--version-id", f.vids["1.0"], a.String())
	if code != 1 || !strings.Contains(errs, "hello 1.0 SUPERSEDED") || !strings.Contains(errs, "now hello 1.1") {
		t.Errorf("exit %d, want 1 and superseded:\n%s%s", code, out, errs)
	}
	// A channel without a release: nothing to follow, at once.
	code, _, errs = relRun(t, "wait", "s3://"+f.bucket+"/nothing/here.deb")
	if code != 1 || !strings.Contains(errs, "follow the rollout on s3://"+f.bucket+"/nothing/here.deb") {
		t.Errorf("no release: exit %d, %q; want 1", code, errs)
	}
}

// TestWaitNotifyFailing: a receiver that fails changes nothing in the
// outcome; each message is tried a bounded number of times, and the
// failure is logged without the webhook's secret path.
func TestWaitNotifyFailing(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/notify-failing.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	hook := testenv.Webhook(t)
	hook.Fail(500, 0)
	code, out, errs := relRun(t, "wait", "--notify", hook.URL, a.String())
	if code != 0 {
		t.Errorf("exit %d, want 0 whatever the receiver does\n%s%s", code, out, errs)
	}
	// started and completed, three attempts each.
	if n := hook.Attempts(); n != 6 {
		t.Errorf("%d attempts, want 6", n)
	}
	if !strings.Contains(errs, "notification not delivered") || strings.Contains(errs, "secret-part") {
		t.Errorf("stderr should log the failure, without the URL's path:\n%s", errs)
	}
}

// TestWaitJSON: one JSON object per line, with the documented fields.
func TestWaitJSON(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/json-wait.deb")
	f.report(t, a, "web-1", "1.0", "installing", "1.1", "", time.Second)
	r := startRun(t, "wait", "--json", "--interval", "100ms", a.String())
	r.waitFor(t, `"event":"started"`)
	f.report(t, a, "web-1", "1.1", "ok", "", "", 0)
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.stdout, r.stderr.String())
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not one JSON object per line: %v\n%s", err, r.stdout)
		}
		got = append(got, m)
	}
	if !slices.Equal(events(got), []string{"started", "host", "completed"}) {
		t.Fatalf("events %v", events(got))
	}
	host := got[1]
	for _, k := range []string{"event", "time", "release_channel", "release", "on_release", "live", "stale", "failed", "elapsed_seconds", "host", "text"} {
		if _, ok := host[k]; !ok {
			t.Errorf("host event lacks %q: %v", k, host)
		}
	}
	if _, ok := host["channel"]; ok {
		t.Errorf("an event has a \"channel\" field, which chat webhooks act on: %v", host)
	}
	h := host["host"].(map[string]any)
	rel := host["release"].(map[string]any)
	if h["host"] != "web-1" || h["state"] != "ok" || h["previous_state"] != "installing" || rel["version_id"] != f.vids["1.1"] || rel["sha256"] != f.cur.SHA256 {
		t.Errorf("host event %v", host)
	}
}

// TestWaitStaged: a staged rollout is followed across its waves: the
// second wave begins, its host installs, and the wait ends with exit 0.
func TestWaitStaged(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	a := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/staged.deb"}
	deb := relDeb(t, dir, "2.0")
	sha := fileSHA(t, deb)
	// One host in each wave of 50%,100%.
	var first, second string
	for i := 0; first == "" || second == ""; i++ {
		h := "web-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if fleet.Place(h, sha) < 50 && first == "" {
			first = h
		} else if fleet.Place(h, sha) >= 50 && second == "" {
			second = h
		}
	}
	hook := testenv.Webhook(t)
	c, _ := cmdClient(t, a.String())
	fc := fleet.New(c.Records(), nil)
	put := func(host, state, version string) {
		st := &fleet.HostStatus{Host: host, Package: "hello", State: state, Version: version, Time: time.Now().UTC()}
		if version == "2.0" {
			st.SHA256 = sha
		}
		if err := fc.PutStatus(t.Context(), a, st); err != nil {
			t.Fatal(err)
		}
	}
	put(first, "ok", "1.0")
	put(second, "ok", "1.0")
	r := startRun(t, "publish", deb, a.String(), "--rollout", "50%,100%", "--wave-interval", "3s",
		"--wait", "--interval", "100ms", "--timeout", "1m", "--notify", hook.URL)
	r.waitFor(t, "following the rollout")
	put(first, "ok", "2.0") // the first wave's host, as its agent would
	out := r.stdout
	// The second wave's host installs once its wave began.
	r.waitFor(t, "wave 2/2 (100%) began")
	put(second, "ok", "2.0")
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, r.stderr.String())
	}
	if got := events(hook.Messages(t)); !slices.Equal(got, []string{"started", "wave", "completed"}) {
		t.Errorf("notifications %v, want started, wave, completed\n%s", got, out)
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestRollbackWait: after hosts rolled back by themselves, rollback
// --wait ends at once: they run the restored release already.
func TestRollbackWait(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/rollback-wait.deb")
	f.report(t, a, "web-1", "1.0", "rolled-back", "1.1", "health check: 500", time.Second)
	f.report(t, a, "web-2", "1.0", "rolled-back", "1.1", "health check: 500", time.Second)
	code, out, errs := relRun(t, "rollback", a.String(), "--to", "previous", "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "hello 1.0 deployed on") {
		t.Errorf("exit %d, want 0 and deployed\n%s%s", code, out, errs)
	}
	code, _, errs = relRun(t, "rollback", a.String(), "--to", "previous", "--dry-run", "--wait")
	if code != 2 || !strings.Contains(errs, "--dry-run writes nothing") {
		t.Errorf("--dry-run --wait: exit %d, %q; want a usage error", code, errs)
	}
}

// TestWaitUsage: wait flags without --wait, and insecure or malformed
// --notify URLs, are usage errors before anything is written.
func TestWaitUsage(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/usage.deb")
	deb := relDeb(t, t.TempDir(), "3.0")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", deb, a.String(), "--timeout", "1m"}, "--timeout only with --wait"},
		{[]string{"publish", deb, a.String(), "--wait", "--notify", "http://chat.example.com/hooks/x"}, "plain http:// notification URL off loopback"},
		{[]string{"promote", a.String(), a.String() + "2", "--notify", "https://chat.example.com/hooks/x"}, "--notify only with --wait"},
		{[]string{"wait", a.String(), "--notify", "chat.example.com/hooks/x"}, "want an http:// or https:// URL"},
		{[]string{"wait", a.String(), "--interval", "0s"}, "must be positive"},
	} {
		code, _, errs := relRun(t, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) || strings.Contains(errs, "/hooks/x") {
			t.Errorf("%v: exit %d, %q; want 2 and %q (without the URL's path)", tt.args, code, errs, tt.want)
		}
	}
	if h := relHistory(t, a.String()); len(h) != 2 {
		t.Errorf("a refused publish wrote: %d versions, want 2", len(h))
	}
}

// TestPromoteWait: promote --wait follows the destination's rollout; a
// host there running those bytes already counts.
func TestPromoteWait(t *testing.T) {
	f := newFleetEnv(t)
	staging := f.channel(t, "hello/staging.deb")
	prod := release.Address{Bucket: f.bucket, Key: "hello/production.deb"}
	f.report(t, prod, "web-1", "1.1", "ok", "", "", time.Second)
	code, out, errs := relRun(t, "promote", staging.String(), prod.String(), "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "hello 1.1 deployed on "+prod.String()+": 1/1 live hosts") {
		t.Errorf("exit %d, want 0 and deployed\n%s%s", code, out, errs)
	}
}
