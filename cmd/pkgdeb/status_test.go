package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// fleetEnv is a channel with releases 1.0 then 1.1 (current) on a real S3
// server, and a release client that writes status objects exactly as the
// agent does (release.Client.PutStatus).
type fleetEnv struct {
	srv      *testenv.S3Server
	c        *release.Client
	bucket   string
	old, cur *release.Manifest
	vids     map[string]string // version -> VersionId
}

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	srv := relS3(t)
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return &fleetEnv{srv: srv, c: c, bucket: srv.Bucket(t, true), vids: map[string]string{}}
}

// channel publishes 1.0 then 1.1 to key and returns its address.
func (f *fleetEnv) channel(t *testing.T, key string) release.Address {
	t.Helper()
	return f.channelWith(t, key)
}

// channelWith is channel, publishing 1.1 with the extra flags given (a
// rollout policy).
func (f *fleetEnv) channelWith(t *testing.T, key string, extra ...string) release.Address {
	t.Helper()
	a := release.Address{Bucket: f.bucket, Key: key}
	dir := t.TempDir()
	for _, v := range []string{"1.0", "1.1"} {
		args := []string{"publish", relDeb(t, dir, v), a.String()}
		if v == "1.1" {
			args = append(args, extra...)
		}
		mustRun(t, args...)
		obj, err := f.c.Head(t.Context(), a, "")
		if err != nil || obj.Manifest == nil {
			t.Fatalf("head after publish: %v", err)
		}
		f.vids[v] = obj.VersionID
		if v == "1.0" {
			f.old = obj.Manifest
		} else {
			f.cur = obj.Manifest
		}
	}
	return a
}

// report writes host's status object: installed version (""/"1.0"/"1.1"),
// state, target version, error, written age ago.
func (f *fleetEnv) report(t *testing.T, a release.Address, host, installed, state, target, errMsg string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age).UTC()
	st := &fleet.HostStatus{Host: host, Package: "hello", State: state, Error: errMsg, Since: at, Time: at}
	rel := func(v string) (string, string) {
		if v == "1.0" {
			return f.old.Version, f.old.SHA256
		}
		return f.cur.Version, f.cur.SHA256
	}
	if installed != "" {
		st.Version, st.SHA256 = rel(installed)
		st.VersionID = f.vids[installed]
	}
	if target != "" {
		v, sum := rel(target)
		st.Target = &fleet.HostRelease{Version: v, SHA256: sum, VersionID: f.vids[target]}
	}
	if state == fleet.StateGated {
		// A gated host says why in its rollout, not as an error.
		st.Rollout, st.Error = &fleet.HostRollout{Wave: 2, Waves: 2, Percent: 100, Gated: errMsg}, ""
	}
	if err := fleet.New(f.c.Records(), nil).PutStatus(t.Context(), a, st); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	f := newFleetEnv(t)
	type host struct {
		name, installed, state, target, err string
		age                                 time.Duration
	}
	for _, tt := range []struct {
		name     string
		hosts    []host
		args     []string
		wantCode int
		want     []string // in stdout
	}{
		{
			name: "all on current",
			hosts: []host{
				{"web-1", "1.1", "ok", "", "", time.Second},
				{"web-2", "1.1", "ok", "", "", time.Minute},
			},
			wantCode: 0,
			want:     []string{"2/2 hosts on 1.1 (current)", "1.1 (current)", "current  hello 1.1"},
		},
		{
			name: "mixed fleet",
			hosts: []host{
				{"web-1", "1.1", "ok", "", "", time.Second},
				{"web-2", "1.0", "ok", "", "", time.Second},
				{"web-3", "1.0", "rolled-back", "1.1", "health check GET http://127.0.0.1:8080/health: 500 Internal Server Error", time.Second},
				{"web-4", "1.0", "installing", "1.1", "", time.Second},
			},
			wantCode: 1,
			want: []string{
				"1/4 on current 1.1; 1 installing: web-4; 1 rolled back: web-3 (1.1): health check GET",
				"1 on another version: web-2 1.0",
			},
		},
		{
			name: "stale host does not count",
			hosts: []host{
				{"web-1", "1.1", "ok", "", "", time.Second},
				{"web-2", "1.0", "ok", "", "", 2 * time.Hour},
			},
			wantCode: 0,
			want:     []string{"1/1 live hosts on 1.1 (current); 1 stale: web-2", "(stale)"},
		},
		{
			name: "short --stale",
			hosts: []host{
				{"web-1", "1.1", "ok", "", "", time.Second},
				{"web-2", "1.1", "ok", "", "", 10 * time.Minute},
			},
			args:     []string{"--stale", "5m"},
			wantCode: 0,
			want:     []string{"1/1 live hosts on 1.1 (current); 1 stale: web-2"},
		},
		{
			name: "failed host",
			hosts: []host{
				{"web-1", "1.1", "ok", "", "", time.Second},
				{"web-2", "", "failed", "1.1", "install 1.1: dpkg: postinst exited 1 (no earlier release to roll back to)", time.Second},
				{"web-3", "", "none", "", "", time.Second},
			},
			wantCode: 1,
			want:     []string{"1/3 on current 1.1; 1 failed: web-2 (1.1): install 1.1: dpkg: postinst exited 1", "; 1 with nothing installed: web-3"},
		},
		{
			name: "refused release",
			hosts: []host{
				{"web-1", "1.0", "refused", "1.1", "signature: not signed", time.Second},
			},
			wantCode: 1,
			want:     []string{"0/1 on current 1.1; 1 refused: web-1 (1.1): signature: not signed"},
		},
		{
			name:     "empty fleet",
			wantCode: 1,
			want:     []string{"no host has reported on s3://"},
		},
		{
			name:     "only stale hosts",
			hosts:    []host{{"web-1", "1.1", "ok", "", "", time.Hour}},
			wantCode: 1,
			want:     []string{"no live host: all 1 stale"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := f.channel(t, "hello/"+strings.ReplaceAll(tt.name, " ", "-")+".deb")
			for _, h := range tt.hosts {
				f.report(t, a, h.name, h.installed, h.state, h.target, h.err, h.age)
			}
			code, out, errs := relRun(t, append([]string{"status", a.String()}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			// The verdict is the last line, and on stderr when it fails.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			verdict := lines[len(lines)-1]
			if code != 0 && !strings.Contains(errs, verdict) {
				t.Errorf("stderr %q lacks the verdict %q", errs, verdict)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	f := newFleetEnv(t)
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no such channel", []string{"s3://" + f.bucket + "/nothing/here.deb"}, 1, "no release published there"},
		{"no such bucket", []string{"s3://no-such-bucket-" + strings.ToLower(time.Now().Format("150405")) + "/x.deb"}, 1, "not found"},
		{"no address", nil, 2, "want exactly one"},
		{"bad address", []string{"http://x/y"}, 2, "s3://"},
		{"bad stale", []string{"--stale", "0s", "s3://b/k.deb"}, 2, "positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := relRun(t, append([]string{"status"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q\n%s", code, errs, tt.wantCode, tt.wantErr, out)
			}
		})
	}
}

func TestStatusHelp(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"status", "--help"}, &out, &errb)
	for _, w := range []string{"Usage: pkgdeb status", "Exit status", "--watch", "--stale", "--interval", "--json", "Examples"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestStatusJSON pins the --json field names, which scripts depend on.
func TestStatusJSON(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/json.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, a, "web-2", "1.0", "rolled-back", "1.1", "health: 500", time.Second)
	f.report(t, a, "web-3", "1.0", "ok", "", "", 3*time.Hour)
	code, out, errs := relRun(t, "status", "--json", a.String())
	if code != 1 {
		t.Errorf("exit %d, want 1: %s", code, errs)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	keys := func(m any) []string {
		var k []string
		for name := range m.(map[string]any) {
			k = append(k, name)
		}
		slices.Sort(k)
		return k
	}
	check := func(what string, got, want []string) {
		t.Helper()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s fields %v, want %v", what, got, want)
		}
	}
	check("top", keys(doc), []string{"channel", "time", "converged", "verdict", "current", "counts", "versions", "hosts"})
	check("current", keys(doc["current"]), []string{"version_id", "etag", "package", "version", "sha256", "published_at", "publisher"})
	check("counts", keys(doc["counts"]), []string{"hosts", "live", "stale", "on_current", "installing", "failed", "rolled_back",
		"refused", "other_version", "none", "unreadable"})
	hosts := doc["hosts"].([]any)
	if len(hosts) != 3 {
		t.Fatalf("%d hosts, want 3", len(hosts))
	}
	check("host", keys(hosts[1]), []string{"host", "package", "version", "sha256", "version_id", "state", "target", "error",
		"since", "time", "last_seen", "stale", "on_current"})
	check("version", keys(doc["versions"].([]any)[0]), []string{"version", "sha256", "current", "hosts"})

	var r fleet.Summary
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	want := fleet.Counts{Hosts: 3, Live: 2, Stale: 1, OnCurrent: 1, RolledBack: 1, OtherVersion: 1}
	if r.Counts != want || r.Converged || r.Current.Version != "1.1" || r.Current.VersionID != f.vids["1.1"] {
		t.Errorf("counts %+v converged %v current %+v; want %+v", r.Counts, r.Converged, r.Current, want)
	}
	h := r.Hosts[1]
	if h.Host != "web-2" || h.State != "rolled-back" || h.Target == nil || h.Target.Version != "1.1" || h.Error != "health: 500" || h.OnCurrent || h.Stale {
		t.Errorf("web-2: %+v", h)
	}
	if !r.Hosts[2].Stale {
		t.Errorf("web-3 not stale: %+v", r.Hosts[2])
	}
	if len(r.Versions) != 2 || r.Versions[0].Hosts != 1 || r.Versions[1].Hosts != 1 {
		t.Errorf("versions (live hosts only): %+v", r.Versions)
	}
}

// TestStatusWatch: --watch keeps printing until the last live host
// reports the current release, and fails when interrupted first.
func TestStatusWatch(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/watch.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, a, "web-2", "1.0", "installing", "1.1", "", time.Second)

	t.Run("interrupted", func(t *testing.T) {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		defer cancel()
		code := run(ctx, []string{"status", "--watch", "--interval", "100ms", a.String()}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "context deadline exceeded") {
			t.Errorf("exit %d, stderr %q; want 1 and the interruption", code, errb.String())
		}
		if n := strings.Count(out.String(), "1/2 on current 1.1; 1 installing: web-2"); n < 2 {
			t.Errorf("%d refreshes, want several:\n%s", n, out.String())
		}
	})

	t.Run("converges", func(t *testing.T) {
		// web-2 finishes its install while we watch.
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			time.Sleep(500 * time.Millisecond)
			st := &fleet.HostStatus{Host: "web-2", Package: "hello", State: fleet.StateOK,
				Version: f.cur.Version, SHA256: f.cur.SHA256, VersionID: f.vids["1.1"], Since: time.Now().UTC(), Time: time.Now().UTC()}
			if err := fleet.New(f.c.Records(), nil).PutStatus(context.Background(), a, st); err != nil {
				t.Error(err)
			}
		}()
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		start := time.Now()
		code := run(ctx, []string{"status", "--watch", "--json", "--interval", "100ms", a.String()}, &out, &errb)
		<-wrote
		if code != 0 {
			t.Fatalf("exit %d after %v: %s", code, time.Since(start), errb.String())
		}
		// --json --watch: one JSON object per line, the last converged.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) < 2 {
			t.Errorf("%d refreshes, want at least 2", len(lines))
		}
		var first, last fleet.Summary
		if json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil {
			t.Fatalf("not JSON lines:\n%s", out.String())
		}
		if first.Converged || !last.Converged || last.Verdict != "2/2 hosts on 1.1 (current)" {
			t.Errorf("first %q (converged %v), last %q (converged %v)", first.Verdict, first.Converged, last.Verdict, last.Converged)
		}
	})
}

// TestStatusRefusalAdvice: hosts that refused the current release say
// why in a code, and pkgdeb status turns each code into what to run; a
// plain upload as current release shows what its .deb says it is.
func TestStatusRefusalAdvice(t *testing.T) {
	refused := func(name, code string, stale bool) fleet.HostSummary {
		return fleet.HostSummary{HostStatus: fleet.HostStatus{Host: name, State: fleet.StateRefused, Refusal: code}, Stale: stale}
	}
	tests := []struct {
		name    string
		current fleet.CurrentRelease
		hosts   []fleet.HostSummary
		advice  fleet.Advice // as fleet counts the hosts (live ones only)
		want    []string
		not     []string
	}{
		{"console restore of a signed release", fleet.CurrentRelease{VersionID: "v3", SHA256: strings.Repeat("a", 64), Package: "hello", Version: "1.0"},
			[]fleet.HostSummary{refused("web-1", fleet.RefusedReplay, false), refused("web-2", fleet.RefusedReplay, false), refused("web-3", fleet.RefusedReplay, true)},
			fleet.Advice{Refused: map[string]int{fleet.RefusedReplay: 2}},
			[]string{"2 hosts refused an older signed release put back as current", "pkgdeb rollback s3://acme/hello.deb --to VERSION --sign-key KEY"}, nil},
		{"plain upload to signed hosts", fleet.CurrentRelease{VersionID: "v4", Plain: true, Package: "hello", Version: "2.0"},
			[]fleet.HostSummary{refused("web-1", fleet.RefusedUnsigned, false)},
			fleet.Advice{Refused: map[string]int{fleet.RefusedUnsigned: 1}},
			[]string{"current  hello 2.0  version_id v4  (plain upload", "1 hosts refused an unsigned release or a plain upload: publish with: pkgdeb publish --sign-key KEY FILE s3://acme/hello.deb"}, nil},
		{"another reason", fleet.CurrentRelease{VersionID: "v5", SHA256: strings.Repeat("b", 64)},
			[]fleet.HostSummary{refused("web-1", "", false)}, fleet.Advice{}, nil, []string{"hosts refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			printStatus(&out, &fleet.Summary{Channel: "s3://acme/hello.deb", Current: tt.current, Hosts: tt.hosts, Advice: tt.advice})
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestStatusConfigColumn: hosts that follow a config channel beside the
// package (autoupdate --config-source) show their config version in a
// CONFIG column; a fleet where none does has no such column.
func TestStatusConfigColumn(t *testing.T) {
	f := newFleetEnv(t)
	plain := f.channel(t, "hello/no-config.deb")
	f.report(t, plain, "web-1", "1.1", "ok", "", "", time.Second)
	if _, out, _ := relRun(t, "status", plain.String()); strings.Contains(out, "CONFIG") {
		t.Errorf("a fleet without configs shows a CONFIG column:\n%s", out)
	}

	a := f.channel(t, "hello/with-config.deb")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, a, "web-2", "1.1", "ok", "", "", time.Second)
	st := &fleet.HostStatus{Host: "web-1", Package: "hello", Version: f.cur.Version, SHA256: f.cur.SHA256, VersionID: f.vids["1.1"],
		State: fleet.StateOK, Since: time.Now().UTC(), Time: time.Now().UTC(),
		Config: &fleet.HostRelease{Version: "2026.12.02-063000", SHA256: strings.Repeat("c", 64)}}
	if err := fleet.New(f.c.Records(), nil).PutStatus(t.Context(), a, st); err != nil {
		t.Fatal(err)
	}
	code, out, errs := relRun(t, "status", a.String())
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	rows := map[string][]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			rows[f[0]] = f
		}
	}
	for host, want := range map[string][]string{
		"HOST":  {"HOST", "VERSION", "CONFIG", "STATE"},
		"web-1": {"web-1", "1.1", "2026.12.02-063000", "ok"},
		"web-2": {"web-2", "1.1", "-", "ok"},
	} {
		if got := rows[host]; len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Errorf("row %s = %q, want it to start with %q\n%s", host, got, want, out)
		}
	}
}
