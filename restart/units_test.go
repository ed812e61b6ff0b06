package restart_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

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
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not installed (apt-get install systemd; see scripts/install-deps)")
	}
	hello := readFile(t, "../systemd/hello.service")
	if got, want := stripHeader(hello), render(t, "../systemd/service.template", "hello", "--listen :8080"); got != want {
		t.Errorf("systemd/hello.service is not systemd/service.template with NAME=hello:\n%s\nwant:\n%s", got, want)
	}
	for _, want := range []string{
		"Type=notify\n", "NotifyAccess=all\n", "ExecReload=/bin/kill -HUP $MAINPID\n",
		"ExecStart=/usr/bin/hello --pidfile /run/hello/hello.pid --listen :8080\n", "RuntimeDirectory=hello\n",
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
			dir := t.TempDir()
			name := strings.TrimSuffix(tc.name, ".service")
			text := strings.ReplaceAll(tc.text, "/usr/bin/"+name+" ", bins.hello+" ")
			unit := filepath.Join(dir, tc.name)
			if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", tc.name, err, out)
			}
		})
	}
}

// upstartStanzas are the stanzas upstart 1.x knows (init(5)).
var upstartStanzas = map[string]bool{
	"description": true, "author": true, "version": true, "emits": true, "usage": true,
	"start": true, "stop": true, "manual": true, "task": true, "instance": true,
	"respawn": true, "normal": true, "kill": true, "reload": true, "expect": true,
	"exec": true, "script": true, "pre-start": true, "post-start": true, "pre-stop": true, "post-stop": true,
	"env": true, "export": true, "console": true, "umask": true, "nice": true, "oom": true,
	"limit": true, "chroot": true, "chdir": true, "setuid": true, "setgid": true, "apparmor": true, "cgroup": true,
}

// TestUpstartJobs checks the upstart jobs: known stanzas only, well-formed
// arguments for the ones that take numbers, script blocks that sh -n
// accepts, and what our supervision needs (no expect, the supervisor env,
// respawn, a kill timeout above the default drain timeout).
func TestUpstartJobs(t *testing.T) {
	hello := readFile(t, "../upstart/hello.conf")
	if got, want := stripHeader(hello), render(t, "../upstart/service.conf.template", "hello", "--listen :8080"); got != want {
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
	numeric := map[string]*regexp.Regexp{
		"respawn": regexp.MustCompile(`^respawn( limit (\d+ \d+|unlimited))?$`),
		"kill":    regexp.MustCompile(`^kill (timeout (\d+)|signal [A-Z0-9]+)$`),
		"normal":  regexp.MustCompile(`^normal exit( [A-Z0-9]+)+$`),
		"expect":  regexp.MustCompile(`^expect (fork|daemon|stop)$`),
		"env":     regexp.MustCompile(`^env [A-Za-z_][A-Za-z0-9_]*(=.*)?$`),
	}
	seen := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, _, _ := strings.Cut(line, " ")
		if !upstartStanzas[word] {
			t.Errorf("line %d: unknown stanza %q", n, word)
			continue
		}
		if re, ok := numeric[word]; ok && !re.MatchString(line) {
			t.Errorf("line %d: malformed %q", n, line)
		}
		seen[word] = line
		if strings.HasSuffix(line, " script") || line == "script" {
			var block strings.Builder
			closed := false
			for sc.Scan() {
				n++
				if strings.TrimSpace(sc.Text()) == "end script" {
					closed = true
					break
				}
				block.WriteString(sc.Text() + "\n")
			}
			if !closed {
				t.Errorf("line %d: script without end script", n)
			}
			checkSh(t, block.String())
		}
		if word == "exec" {
			checkSh(t, strings.TrimPrefix(line, "exec ")+"\n")
		}
	}
	if _, ok := seen["expect"]; ok {
		t.Errorf("has an expect stanza: upstart must track the supervisor, which does not fork")
	}
	if seen["env"] != "env RESTART_SUPERVISE=1" {
		t.Errorf("does not set RESTART_SUPERVISE=1, got %q", seen["env"])
	}
	if !strings.HasPrefix(seen["respawn"], "respawn") || seen["exec"] == "" {
		t.Errorf("wants respawn and exec stanzas, got %q, %q", seen["respawn"], seen["exec"])
	}
	m := regexp.MustCompile(`^kill timeout (\d+)$`).FindStringSubmatch(seen["kill"])
	if secs, _ := strconv.Atoi(append(m, "", "")[1]); time.Duration(secs)*time.Second <= restart.DefaultDrainTimeout+5*time.Second {
		t.Errorf("kill timeout %q must exceed the default drain timeout plus the supervisor's 5 s", seen["kill"])
	}
}

func checkSh(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sh -n rejects:\n%s%v %s", script, err, out)
	}
}
