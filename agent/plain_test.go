package agent

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestUnsignedModeFollowsAnyS3Client is the seed's own workflow in
// unsigned mode, with the peer S3 client: a .deb uploaded with "aws s3
// cp" is installed (its name and version read from the package), a newer
// one upgrades, and a restore of an older version with "aws s3api
// copy-object" is followed like a rollback. A restore of the bytes a host
// runs already is not even noticed (the same ETag answers its conditional
// HEAD), and the fleet summary counts the host on it.
func TestUnsignedModeFollowsAnyS3Client(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	ch := newChannel(t)
	h := newHost(t)
	var logs bytes.Buffer
	a := newAgent(t, h, ch, nil, &logs)
	upload := func(v string) string {
		ch.srv.AWS(t, "s3", "cp", "--only-show-errors", testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: v, Bin: bins[v]}), ch.addr.String())
		obj, err := ch.client.Head(t.Context(), ch.addr, "")
		if err != nil || !obj.Plain() {
			t.Fatalf("after aws s3 cp: %v, plain %v", err, obj != nil && obj.Plain())
		}
		t.Logf("aws s3 cp %s: %d bytes, ETag %s", v, obj.Size, obj.ETag)
		return obj.VersionID
	}
	restore := func(versionID string) string {
		out := ch.srv.AWS(t, "s3api", "copy-object", "--bucket", ch.addr.Bucket, "--key", ch.addr.Key,
			"--copy-source", ch.addr.Bucket+"/"+ch.addr.Key+"?versionId="+versionID)
		obj, err := ch.client.Head(t.Context(), ch.addr, "")
		if err != nil || !strings.Contains(out, obj.VersionID) {
			t.Fatalf("after copy-object: %v; current %+v, output %s", err, obj, out)
		}
		return obj.VersionID
	}

	v1 := upload("1.0")
	if err := a.Once(t.Context()); err != nil {
		t.Fatalf("Once: %v\n%s", err, logs.String())
	}
	h.startService(t)
	v2 := upload("2.0")
	steps := []struct {
		name        string
		change      func() string // returns the new current VersionId
		wantOutcome Outcome
		wantServing string
	}{
		{"upgrade by aws s3 cp", func() string { return v2 }, OK, "2.0"},
		{"restore 1.0 by copy-object", func() string { return restore(v1) }, OK, "1.0"},
		{"restore 1.0 again: already running it", func() string { return restore(v1) }, "", "1.0"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			vid := st.change()
			logs.Reset()
			outcome, err := a.Check(t.Context())
			if err != nil || outcome != st.wantOutcome {
				t.Fatalf("Check = %q, %v; want %q\n%s", outcome, err, st.wantOutcome, logs.String())
			}
			if got := h.serving(t); got != st.wantServing {
				t.Errorf("serving %q, want %q", got, st.wantServing)
			}
			s := ch.status(t, "web-1")
			if s.State != "ok" || s.Version != st.wantServing || (st.wantOutcome == OK && s.VersionID != vid) {
				t.Errorf("status %+v, want ok on %s, VersionId %s", s, st.wantServing, vid)
			}
			sum, err := fleet.New(ch.client.Records(), nil).Summary(t.Context(), ch.addr, mustHead(t, ch), time.Now(), time.Hour)
			if err != nil || !sum.Converged {
				t.Errorf("fleet summary: %v, converged %v: %s", err, sum != nil && sum.Converged, sum.Verdict)
			}
		})
	}
}

// TestSignedModeRefusesConsoleRestores: with a key, a plain upload is
// refused, and so is a signed release restored by copy-object, both on a
// host that ran something newer and on a fresh host that never did; the
// status object says it was a replay, for pkgdeb status to say what to
// do. A re-signing rollback of the same release is taken.
func TestSignedModeRefusesConsoleRestores(t *testing.T) {
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ch := newChannel(t)
	hosts := map[string]*host{"web-1": newHost(t), "web-2": newHost(t)}
	agents := map[string]*Agent{}
	for name, h := range hosts {
		a, err := New(Config{Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello",
			PublicKeys: []release.PublicKey{key.Public()}, Host: name, Report: true, Interval: time.Second, Installer: h.inst})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.start(t.Context()); err != nil {
			t.Fatal(err)
		}
		agents[name] = a
	}
	publish := func(v string, at time.Time) string {
		p := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: v}), at)
		res, err := ch.client.Publish(t.Context(), ch.addr, release.PublishInput{Body: bytes.NewReader(p.body), Manifest: p.m, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return res.VersionID
	}
	// 1.0 was published an hour ago; web-1 runs 2.0, web-2 is new.
	v1 := publish("1.0", time.Now().Add(-time.Hour))
	publish("2.0", time.Now())
	if out, err := agents["web-1"].Check(t.Context()); out != OK || err != nil {
		t.Fatalf("web-1 installing 2.0: %q, %v", out, err)
	}
	ch.srv.AWS(t, "s3api", "copy-object", "--bucket", ch.addr.Bucket, "--key", ch.addr.Key,
		"--copy-source", ch.addr.Bucket+"/"+ch.addr.Key+"?versionId="+v1)
	for name, a := range agents {
		if out, err := a.Check(t.Context()); out != StateRefused || err != nil {
			t.Fatalf("%s after a console restore of 1.0: %q, %v", name, out, err)
		}
		if s := ch.status(t, name); s.Refusal != fleet.RefusedReplay || !strings.Contains(s.Error, "replay") {
			t.Errorf("%s: status %+v, want a replay refusal", name, s)
		}
	}
	plain := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "3.0"})
	ch.srv.AWS(t, "s3", "cp", "--only-show-errors", plain, ch.addr.String())
	if out, err := agents["web-2"].Check(t.Context()); out != StateRefused || err != nil {
		t.Fatalf("web-2 after aws s3 cp: %q, %v", out, err)
	}
	if s := ch.status(t, "web-2"); s.Refusal != fleet.RefusedUnsigned {
		t.Errorf("web-2: status %+v, want an unsigned refusal", s)
	}
	if _, err := ch.client.Rollback(t.Context(), ch.addr, release.RollbackInput{To: "1.0", Key: key}); err != nil {
		t.Fatal(err)
	}
	for name, a := range agents {
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Errorf("%s after a re-signing rollback to 1.0: %q, %v", name, out, err)
		}
	}
}

func mustHead(t *testing.T, ch *channel) *release.Object {
	t.Helper()
	obj, err := ch.client.Head(t.Context(), ch.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	return obj
}
