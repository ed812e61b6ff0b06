package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

// TestPublishRolloutFlags: bad policies are usage errors and upload
// nothing; a good one is signed into the manifest and printed.
func TestPublishRolloutFlags(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	bucket := srv.Bucket(t, true)
	dst := "s3://" + bucket + "/hello/production.deb"
	v1 := relDeb(t, dir, "1.0")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"last wave not 100%", []string{"--rollout", "10%,50%"}, "must be 100%"},
		{"waves shrink", []string{"--rollout", "50%,10%,100%", "--wave-interval", "1m"}, "must grow"},
		{"no interval", []string{"--rollout", "10%,100%"}, "give --wave-interval"},
		{"interval without waves", []string{"--wave-interval", "5m"}, "needs more than one wave"},
		{"interval too short", []string{"--rollout", "10%,100%", "--wave-interval", "1ms"}, "wave interval of at least"},
		{"negative cap", []string{"--max-updating", "-1"}, "max-updating"},
		{"negative halt", []string{"--halt-after", "-2"}, "halt-after"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := relRun(t, append([]string{"publish", v1, dst}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q\n%s", code, errs, tt.want, out)
			}
		})
	}
	if h := relHistory(t, dst); len(h) != 0 {
		t.Fatalf("a refused publish uploaded: %+v", h)
	}

	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	out := mustRun(t, "publish", "--sign-key", key+".key", v1, dst, "--rollout", "10%,50%,100%", "--wave-interval", "5m",
		"--max-updating", "2", "--halt-after", "2")
	if !strings.Contains(out, "rollout 10%,50%,100%, a wave every 5m0s, at most 2 updating at once, halt after 2 failed; last wave from ") {
		t.Errorf("publish output does not show the policy:\n%s", out)
	}
	c, a := cmdClient(t, dst)
	obj, err := c.Head(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := fleet.PolicyOf(obj.Manifest)
	if err != nil || p.String() != "rollout 10%,50%,100%, a wave every 5m0s, at most 2 updating at once, halt after 2 failed" {
		t.Errorf("policy in the manifest: %v, %v", p, err)
	}
	pub, err := release.LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.Manifest.Verify(pub); err != nil {
		t.Errorf("signature: %v", err)
	}

	// The same bytes with another policy are skipped, and the user told.
	code, out, errs := relRun(t, "publish", "--sign-key", key+".key", v1, dst)
	if code != 0 || !strings.Contains(out, "unchanged") || !strings.Contains(errs, "keeps its policy") {
		t.Errorf("re-publish with the default policy: exit %d\n%s%s", code, out, errs)
	}
	// The default policy prints as such.
	out = mustRun(t, "publish", relDeb(t, dir, "1.1"), dst)
	if !strings.Contains(out, "every host at once") {
		t.Errorf("default policy output:\n%s", out)
	}
}

func cmdClient(t *testing.T, addr string) (*release.Client, release.Address) {
	t.Helper()
	a, err := release.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	var f s3Flags
	c, err := f.client(t.Context(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return c, a
}

func runCmd(t *testing.T, fn func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := fn(ctx, args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestHaltResumeCommands(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	mustRun(t, "publish", relDeb(t, dir, "2.0"), dst, "--halt-after", "3")
	c, a := cmdClient(t, dst)
	obj, err := c.Head(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	sha := obj.Manifest.SHA256

	for _, fn := range []func(context.Context, []string, io.Writer, io.Writer) error{runHalt, runResume} {
		if out, err := runCmd(t, fn, "--help"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "Usage: pkgdeb") || !strings.Contains(out, "-reason") {
			t.Errorf("--help: %v\n%s", err, out)
		}
		var ue *cli.UsageError
		if _, err := runCmd(t, fn); !errors.As(err, &ue) {
			t.Errorf("no address: %v, want a usage error", err)
		}
	}

	out, err := runCmd(t, runHalt, dst, "--reason", "p99 up", "--by", "alice@laptop")
	if err != nil || !strings.Contains(out, "halted 2.0 (sha256 "+sha[:12]+")") {
		t.Fatalf("halt: %v\n%s", err, out)
	}
	st, err := fleet.New(c.Records(), nil).ReadRolloutState(t.Context(), a, sha, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Halted || !strings.Contains(st.Reason, "alice@laptop") || !strings.Contains(st.Reason, "p99 up") {
		t.Fatalf("state after halt: %+v", st)
	}
	out, err = runCmd(t, runHalt, dst, "--by", "bob@laptop")
	if err != nil || !strings.Contains(out, "already halted by alice@laptop") {
		t.Errorf("second halt: %v\n%s", err, out)
	}
	out, err = runCmd(t, runResume, dst, "--by", "alice@laptop", "--sha256", sha)
	if err != nil || !strings.Contains(out, "resumed") || !strings.Contains(out, "p99 up") {
		t.Errorf("resume: %v\n%s", err, out)
	}
	if st, _ := fleet.New(c.Records(), nil).ReadRolloutState(t.Context(), a, sha, 3); st.Halted {
		t.Errorf("still halted after resume: %+v", st)
	}
	if _, err := runCmd(t, runHalt, dst, "--sha256", "abc"); err == nil {
		t.Error("a malformed --sha256 was accepted")
	}
	// A release without a policy cannot be halted: agents would not look.
	mustRun(t, "publish", relDeb(t, dir, "2.1"), dst)
	if out, err := runCmd(t, runHalt, dst); err == nil || !strings.Contains(err.Error(), "without a rollout policy") {
		t.Errorf("halt of a release without a policy: %v\n%s", err, out)
	}
}
