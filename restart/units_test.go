//go:build linux

package restart_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/restart"
)

// helloArgs are hello's flags in its units, beside --pidfile.
const helloArgs = "--listen :8080 --env-file -/etc/default/hello"

// render fills a unit template as its header comment says, and drops the
// leading comment block (the template's and the generated file's differ).
func render(t *testing.T, path, name, args string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("@NAME@", name, "@ARGS@", args).Replace(string(b))
	return stripHeader(s)
}

func stripHeader(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	return strings.Join(lines, "")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSystemdUnits runs systemd-analyze verify on the shipped units and
// fails on any output: it exits 0 on unknown keys and only warns. The
// binary path is pointed at a real built hello, since verify checks that
// ExecStart is executable.
func TestSystemdUnits(t *testing.T) {
	hello := readFile(t, "../systemd/hello.service")
	if got, want := stripHeader(hello), render(t, "../systemd/service.template", "hello", helloArgs); got != want {
		t.Errorf("systemd/hello.service is not systemd/service.template with NAME=hello:\n%s\nwant:\n%s", got, want)
	}
	for _, want := range []string{
		"Type=notify\n", "NotifyAccess=all\n", "ExecReload=/bin/sh -c 'kill -HUP $MAINPID'\n", "ExecStop=/bin/sh -c 'kill -TERM $MAINPID; while",
		"ExecStart=/usr/bin/hello --pidfile /run/hello/hello.pid " + helloArgs + "\n", "RuntimeDirectory=hello\n",
		"EnvironmentFile=-/etc/default/hello\n",
	} {
		if !strings.Contains(hello, want) {
			t.Errorf("hello.service lacks %q", want)
		}
	}
	for _, tc := range []struct{ name, text string }{
		{"hello.service", hello},
		{"other.service", render(t, "../systemd/service.template", "other", "--listen 127.0.0.1:9000 --drain-timeout 10s")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.TrimSuffix(tc.name, ".service")
			execs := map[string]string{"/usr/bin/" + name + " ": bins.hello + " "}
			if out := testenv.VerifySystemdUnit(t, tc.name, tc.text, execs); out != "" {
				t.Errorf("systemd-analyze verify %s:\n%s", tc.name, out)
			}
		})
	}
}

// TestUpstartJobs checks the upstart jobs: known stanzas only, well-formed
// arguments for the ones that take numbers, script blocks that sh -n
// accepts, and what our supervision needs (no expect, the supervisor env,
// respawn, a kill timeout above the default drain timeout).
func TestUpstartJobs(t *testing.T) {
	hello := readFile(t, "../upstart/hello.conf")
	if got, want := stripHeader(hello), render(t, "../upstart/service.conf.template", "hello", helloArgs); got != want {
		t.Errorf("upstart/hello.conf is not upstart/service.conf.template with NAME=hello:\n%s\nwant:\n%s", got, want)
	}
	for _, tc := range []struct{ name, text string }{
		{"hello.conf", hello},
		{"service.conf.template", readFile(t, "../upstart/service.conf.template")},
	} {
		t.Run(tc.name, func(t *testing.T) { checkUpstart(t, tc.text) })
	}
}

func checkUpstart(t *testing.T, text string) {
	problems, stanzas := testenv.CheckUpstartJob(text)
	for _, p := range problems {
		t.Error(p)
	}
	last := func(word string) string {
		if l := stanzas[word]; len(l) > 0 {
			return l[len(l)-1]
		}
		return ""
	}
	if len(stanzas["expect"]) > 0 {
		t.Errorf("has an expect stanza: upstart must track the supervisor, which does not fork")
	}
	if last("env") != "env RESTART_SUPERVISE=1" {
		t.Errorf("does not set RESTART_SUPERVISE=1, got %q", last("env"))
	}
	if last("respawn") == "" || last("exec") == "" {
		t.Errorf("wants respawn and exec stanzas, got %q, %q", last("respawn"), last("exec"))
	}
	m := regexp.MustCompile(`^kill timeout (\d+)$`).FindStringSubmatch(last("kill"))
	if secs, _ := strconv.Atoi(append(m, "", "")[1]); time.Duration(secs)*time.Second <= restart.DefaultDrainTimeout+5*time.Second {
		t.Errorf("kill timeout %q must exceed the default drain timeout plus the supervisor's 5 s", last("kill"))
	}
}
