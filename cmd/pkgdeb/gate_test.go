package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// TestPublishGateFlags: a bad gate is refused before anything is
// uploaded; a good one is signed into the manifest and printed without
// the URL's token.
func TestPublishGateFlags(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	v1 := relDeb(t, dir, "1.0")
	staged := []string{"--rollout", "10%,100%", "--wave-interval", "10m"}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"one wave", []string{"--gate-alarm", "api-5xx"}, "give --rollout at least two waves"},
		{"plain http off loopback", append([]string{"--gate-url", "http://alerts.example.com/ok?token=s3cret"}, staged...), "plain http:// off loopback"},
		{"not a URL", append([]string{"--gate-url", "alerts.example.com/ok"}, staged...), "want an https:// URL"},
		{"alarm name with a newline", append([]string{"--gate-alarm", "api\n5xx"}, staged...), "not a CloudWatch alarm name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := relRun(t, append([]string{"publish", v1, dst}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q\n%s", code, errs, tt.want, out)
			}
			if strings.Contains(errs, "s3cret") {
				t.Errorf("the error shows the URL's token: %s", errs)
			}
		})
	}
	if h := relHistory(t, dst); len(h) != 0 {
		t.Fatalf("a refused publish uploaded: %+v", h)
	}

	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	gateURL := "https://alerts.example.com/api/ok?token=s3cret"
	out := mustRun(t, append([]string{"publish", "--sign-key", key + ".key", v1, dst, "--gate-url", gateURL, "--gate-alarm", "api-5xx"}, staged...)...)
	want := "rollout 10%,100%, a wave every 10m0s, gate https://alerts.example.com/api/ok, alarm api-5xx before each wave after the first"
	if !strings.Contains(out, want) || strings.Contains(out, "s3cret") {
		t.Errorf("publish output should show %q, without the token:\n%s", want, out)
	}
	c, a := cmdClient(t, dst)
	obj, err := c.Head(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := fleet.PolicyOf(obj.Manifest)
	if err != nil || p.Gate != (fleet.Gate{URL: gateURL, Alarm: "api-5xx"}) {
		t.Errorf("policy in the manifest: %+v, %v", p, err)
	}
	pub, err := release.LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.Manifest.Verify(pub); err != nil {
		t.Errorf("signature: %v", err)
	}
	// The gate is signed: changing it breaks the signature.
	obj.Manifest.Extra["gate-alarm"] = "other"
	if err := obj.Manifest.Verify(pub); err == nil {
		t.Error("a manifest with its gate changed still verifies")
	}
}

// TestStatusGated: pkgdeb status shows the hosts a gate holds, why, and
// the gate, never the URL's token.
func TestStatusGated(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channelWith(t, "hello/gated.deb", "--rollout", "50%,100%", "--wave-interval", "1h",
		"--gate-url", "https://alerts.example.com/api/ok?token=s3cret")
	f.report(t, a, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, a, "web-2", "1.0", "gated", "1.1", "gate https://alerts.example.com/api/ok answered 503", time.Second)
	code, out, errs := relRun(t, "status", a.String())
	for _, w := range []string{
		"GATED    1 live hosts held by the gate: gate https://alerts.example.com/api/ok answered 503",
		"web-2  1.0", "gated",
		"1 held by the release's rollout gate: web-2",
		"gate https://alerts.example.com/api/ok before each wave after the first",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if code != 1 || strings.Contains(out+errs, "s3cret") {
		t.Errorf("exit %d (want 1), or the token shown:\n%s%s", code, out, errs)
	}
}
