//go:build linux

package restart_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnvFileAtUpgrade: hello under load reads its env file again at each
// upgrade: a changed greeting is served, a deleted variable is gone, a
// malformed file fails the upgrade while the old generation serves on, and
// no request fails.
func TestEnvFileAtUpgrade(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "hello.env")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(envFile+".tmp", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(envFile+".tmp", envFile); err != nil {
			t.Fatal(err)
		}
	}
	write("HELLO_GREETING=bonjour\nHELLO_GONE=soon\n")
	s := startService(t, startOptions{args: []string{"--env-file", "-" + envFile}, env: []string{"HELLO_INHERITED=kept"}})
	first := s.pid()
	checkGreeting(t, s, "bonjour from v1")
	// The first generation set the file's variables itself, in New: they
	// are not in the environment it was started with.
	checkEnviron(t, first, map[string]string{"HELLO_GREETING": "", "HELLO_INHERITED": "kept"})
	stopLoad := startLoad(s, true)

	write("# changed\nHELLO_GREETING=\"good day\" # quoted\n")
	second := s.upgrade(0)
	s.waitGone([]int{first}, testDrainTimeout+5*time.Second)
	checkGreeting(t, s, "good day from v1")
	checkEnviron(t, second, map[string]string{"HELLO_GREETING": "good day", "HELLO_GONE": "", "HELLO_INHERITED": "kept", "RESTART_ENV_FROM_FILES": "HELLO_GREETING"})

	write("HELLO_GREETING=\"oops\n")
	s.signal(second, 1) // SIGHUP
	s.waitLog(`upgrade failed, still serving.*hello.env:1: HELLO_GREETING: unterminated double quote`, 1)
	if pid := s.pid(); pid != second {
		t.Fatalf("PID file names %d after a failed upgrade, want %d", pid, second)
	}
	checkGreeting(t, s, "good day from v1")

	// The file is optional: once deleted, its variables are gone.
	if err := os.Remove(envFile); err != nil {
		t.Fatal(err)
	}
	third := s.upgrade(0)
	s.waitGone([]int{second}, testDrainTimeout+5*time.Second)
	checkGreeting(t, s, "hello from v1")
	checkEnviron(t, third, map[string]string{"HELLO_GREETING": "", "RESTART_ENV_FROM_FILES": "", "HELLO_INHERITED": "kept"})

	checkLoad(t, stopLoad(), 200)
}

// checkGreeting GETs / on a new connection (an old generation has exited,
// so the current one answers) and checks the greeting.
func checkGreeting(t *testing.T, s *service, want string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + s.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), want) {
		t.Errorf("GET / = %q, want %q...", body, want)
	}
}

// checkEnviron checks the environment pid started with (/proc/PID/environ):
// each of want's variables has its value, or is absent where want says "".
func checkEnviron(t *testing.T, pid int, want map[string]string) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string][]string)
	for _, kv := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = append(got[k], v)
	}
	for k, v := range want {
		switch {
		case v == "" && len(got[k]) > 0:
			t.Errorf("process %d has %s=%q, want it unset", pid, k, got[k])
		case v != "" && (len(got[k]) != 1 || got[k][0] != v):
			t.Errorf("process %d has %s=%q, want %q once", pid, k, got[k], v)
		}
	}
}
