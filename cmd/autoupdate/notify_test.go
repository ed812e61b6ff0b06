package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestNotifyURL runs the agent as cloud-init or cron would (--once),
// against versitygw and a dpkg sandbox root, with --notify-url: a
// successful install posts nothing; a rollback and a refusal post one
// message each, with the host's own words quoted; a failing receiver
// changes neither the outcome nor the exit status, and is tried a bounded
// number of times.
func TestNotifyURL(t *testing.T) {
	srv := s3env.Server(t)
	srv.SetEnv(t)
	key, pubPath := newKeyPair(t)
	addr := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	root, stateDir := testenv.DpkgRoot(t), t.TempDir()
	hook := testenv.Webhook(t)
	once := func(wantCode int) string {
		t.Helper()
		var stderr bytes.Buffer
		args := []string{"--source", addr.String(), "--package", "hello", "--once", "--state-dir", stateDir, "--dpkg-root", root,
			"--host", "web-1", "--public-key", pubPath, "--endpoint", srv.Endpoint}
		env := func(k string) string {
			if k == "AUTOUPDATE_NOTIFY_URL" {
				return hook.URL
			}
			return ""
		}
		start := time.Now()
		if code := run(t.Context(), append(args, "--env-file", "/dev/null"), &stderr, &stderr, env); code != wantCode {
			t.Fatalf("autoupdate --once: exit %d, want %d\n%s", code, wantCode, stderr.String())
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("--once took %v", d)
		}
		if strings.Contains(stderr.String(), "secret-part") {
			t.Errorf("the log shows the webhook's secret path:\n%s", stderr.String())
		}
		return stderr.String()
	}

	publishTo(t, srv, addr, testenv.AgentDeb{Package: "hello", Version: "1.0"}, key)
	once(0)
	if got := hook.Messages(t); len(got) != 0 {
		t.Fatalf("a successful install notified: %v", got)
	}

	publishTo(t, srv, addr, testenv.AgentDeb{Package: "hello", Version: "2.0", Postinst: "#!/bin/sh\necho '<!channel> *boom*' >&2\nexit 1\n"}, key)
	once(1)
	publishTo(t, srv, addr, testenv.AgentDeb{Package: "hello", Version: "3.0"}, nil)
	once(1)
	got := hook.Messages(t)
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2 (rolled back, refused): %v", len(got), got)
	}
	rb, ref := got[0], got[1]
	if rb["event"] != "rolled-back" || rb["host"] != "web-1" || rb["version"] != "1.0" || rb["target"].(map[string]any)["version"] != "2.0" ||
		rb["release_channel"] != addr.String() || !strings.Contains(rb["error"].(string), "<!channel> *boom*") {
		t.Errorf("rollback message %v", rb)
	}
	text := rb["text"].(string)
	if !strings.HasPrefix(text, "`web-1` ROLLED BACK `hello` `2.0` from `"+addr.String()+"`: `") || strings.Contains(text, "<!channel>") ||
		!strings.Contains(text, "&lt;!channel&gt; *boom*") || !strings.HasSuffix(text, "; it runs `1.0`") {
		t.Errorf("rollback text %q: want the host's words quoted and escaped", text)
	}
	if ref["event"] != "refused" || ref["refusal"] != "unsigned" || !strings.Contains(ref["text"].(string), "REFUSED `hello` `3.0`") {
		t.Errorf("refusal message %v", ref)
	}

	// A receiver that fails: the outcome and exit status stay, the
	// message is tried 3 times, and the failure is logged.
	hook.Fail(500, 0)
	before := hook.Attempts()
	publishTo(t, srv, addr, testenv.AgentDeb{Package: "hello", Version: "4.0", Postinst: "#!/bin/sh\nexit 1\n"}, key)
	logs := once(1)
	if n := hook.Attempts() - before; n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if !strings.Contains(logs, "notification not delivered") {
		t.Errorf("the failed notification is not logged:\n%s", logs)
	}
}
