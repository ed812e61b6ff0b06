package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// VerifySystemdUnit runs `systemd-analyze verify` on a unit's text, saved as
// name (e.g. "hello.service"), and returns what it printed: empty means the
// unit is clean. verify exits 0 on unknown keys and only warns, so callers
// must treat any output as a failure. Each key of execs (a path such as
// /usr/bin/hello) is replaced by its value, a real executable, because verify
// checks that ExecStart exists.
func VerifySystemdUnit(t testing.TB, name, text string, execs map[string]string) string {
	t.Helper()
	LookTool(t, "systemd-analyze")
	for from, to := range execs {
		text = strings.ReplaceAll(text, from, to)
	}
	unit := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
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

// upstartArgs are the stanzas whose arguments are checked.
var upstartArgs = map[string]*regexp.Regexp{
	"respawn": regexp.MustCompile(`^respawn( limit (\d+ \d+|unlimited))?$`),
	"kill":    regexp.MustCompile(`^kill (timeout \d+|signal [A-Z0-9]+)$`),
	"normal":  regexp.MustCompile(`^normal exit( [A-Z0-9]+)+$`),
	"umask":   regexp.MustCompile(`^umask [0-7]{3,4}$`),
	"start":   regexp.MustCompile(`^start on .+$`),
	"stop":    regexp.MustCompile(`^stop on .+$`),
	"expect":  regexp.MustCompile(`^expect (fork|daemon|stop)$`),
	"env":     regexp.MustCompile(`^env [A-Za-z_][A-Za-z0-9_]*(=.*)?$`),
}

// CheckUpstartJob returns the problems in an upstart job's text (upstart
// itself is not installed on Debian, so this is the check we can run):
// unknown stanzas, malformed arguments, script blocks without "end script",
// and script blocks or exec lines that `sh -n` rejects. It also returns the
// lines of each stanza seen, for callers to check what their job needs.
func CheckUpstartJob(text string) (problems []string, stanzas map[string][]string) {
	stanzas = map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		if !upstartStanzas[word] {
			problems = append(problems, fmt.Sprintf("line %d: unknown stanza %q", n, word))
			continue
		}
		if re, ok := upstartArgs[word]; ok && !re.MatchString(line) {
			problems = append(problems, fmt.Sprintf("line %d: malformed %q", n, line))
		}
		stanzas[word] = append(stanzas[word], line)
		if word == "exec" {
			if err := shSyntax(rest + "\n"); err != nil {
				problems = append(problems, fmt.Sprintf("line %d: %q: %v", n, line, err))
			}
			continue
		}
		if line != "script" && !strings.HasSuffix(line, " script") {
			continue
		}
		start := n
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
			problems = append(problems, fmt.Sprintf("line %d: %q has no end script", start, line))
			continue
		}
		if err := shSyntax(block.String()); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %q: %v", start, line, err))
		}
	}
	return problems, stanzas
}

// shSyntax checks a shell script with sh -n.
func shSyntax(script string) error {
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sh -n: %v: %s", err, out)
	}
	return nil
}
