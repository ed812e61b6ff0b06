package main

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

const (
	systemdUnit = "../../systemd/autoupdate.service"
	upstartJob  = "../../upstart/autoupdate.conf"
)

// verifySystemd runs systemd-analyze verify on unit text and returns its
// output, which must be empty: verify exits 0 on unknown keys and only
// warns. ExecStart is pointed at a real executable, since verify checks it.
func verifySystemd(t *testing.T, text string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not installed (apt-get install systemd; see scripts/install-deps)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text = strings.ReplaceAll(text, "ExecStart=/usr/bin/autoupdate", "ExecStart="+exe)
	unit := filepath.Join(t.TempDir(), "autoupdate.service")
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	if out := verifySystemd(t, unit); out != "" {
		t.Errorf("systemd-analyze verify: %s", out)
	}
	for _, want := range []string{
		"\nExecStart=/usr/bin/autoupdate\n", "\nRestart=always\n", "\nEnvironmentFile=-/etc/default/autoupdate\n",
		"\nStateDirectory=autoupdate\n", "\nStateDirectoryMode=0700\n", "\nKillMode=process\n",
		"\nWants=network-online.target\n", "\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	// Options that would stop dpkg from installing packages.
	for _, bad := range []string{"ProtectSystem=", "ReadOnlyPaths=", "NoNewPrivileges=yes", "RestrictSUIDSGID=yes", "DynamicUser=", "User="} {
		if strings.Contains(unit, bad) {
			t.Errorf("unit sets %q, which breaks dpkg", bad)
		}
	}

	// The check itself must catch mistakes.
	for name, broken := range map[string]string{
		"unknown key": strings.Replace(unit, "Restart=always", "Restart=always\nRestartt=always", 1),
		"bad value":   strings.Replace(unit, "Restart=always", "Restart=sometimes", 1),
	} {
		if out := verifySystemd(t, broken); out == "" {
			t.Errorf("verify found nothing wrong with a unit with a %s", name)
		}
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

// upstartArgs are the stanzas whose arguments we check.
var upstartArgs = map[string]*regexp.Regexp{
	"respawn": regexp.MustCompile(`^respawn( limit (\d+ \d+|unlimited))?$`),
	"kill":    regexp.MustCompile(`^kill (timeout \d+|signal [A-Z0-9]+)$`),
	"umask":   regexp.MustCompile(`^umask [0-7]{3,4}$`),
	"start":   regexp.MustCompile(`^start on .+$`),
	"stop":    regexp.MustCompile(`^stop on .+$`),
	"expect":  regexp.MustCompile(`^expect (fork|daemon|stop)$`),
}

// checkUpstart returns the problems in an upstart job: unknown stanzas,
// malformed arguments, unterminated script blocks and script blocks that
// sh -n rejects. It also returns the stanzas seen.
func checkUpstart(t *testing.T, text string) (problems []string, seen map[string][]string) {
	t.Helper()
	seen = map[string][]string{}
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
			problems = append(problems, fmt.Sprintf("line %d: unknown stanza %q", n, word))
			continue
		}
		if re, ok := upstartArgs[word]; ok && !re.MatchString(line) {
			problems = append(problems, fmt.Sprintf("line %d: malformed %q", n, line))
		}
		seen[word] = append(seen[word], line)
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
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(block.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %q: sh -n: %v: %s", start, line, err, out))
		}
	}
	return problems, seen
}

func TestUpstartJob(t *testing.T) {
	b, err := os.ReadFile(upstartJob)
	if err != nil {
		t.Fatal(err)
	}
	job := string(b)
	problems, seen := checkUpstart(t, job)
	for _, p := range problems {
		t.Error(p)
	}
	for _, want := range []string{"start", "stop", "respawn", "script", "kill", "description"} {
		if len(seen[want]) == 0 {
			t.Errorf("job lacks a %q stanza", want)
		}
	}
	if len(seen["expect"]) > 0 {
		t.Error("autoupdate does not fork: the job must not use expect")
	}
	for _, want := range []string{"exec /usr/bin/autoupdate", ". /etc/default/autoupdate", "set -a"} {
		if !strings.Contains(job, want) {
			t.Errorf("job lacks %q", want)
		}
	}

	// The check itself must catch mistakes.
	for name, broken := range map[string]string{
		"unknown stanza":     job + "\nrespawnn\n",
		"malformed respawn":  job + "\nrespawn limit often\n",
		"shell syntax error": strings.Replace(job, "\tfi\n\texec", "\texec", 1),
		"unterminated block": job + "\nscript\n\ttrue\n",
	} {
		if p, _ := checkUpstart(t, broken); len(p) == 0 {
			t.Errorf("no problem found in a job with a %s", name)
		}
	}
}

// TestUpstartScriptRuns runs the job's main script block with sh, with the
// env file and the binary redirected to test copies: the settings in the
// env file must reach autoupdate as environment variables.
func TestUpstartScriptRuns(t *testing.T) {
	b, err := os.ReadFile(upstartJob)
	if err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "script":
			in = true
		case in && strings.TrimSpace(line) == "end script":
			in = false
		case in:
			block.WriteString(line + "\n")
		}
	}
	dir := t.TempDir()
	envFile := filepath.Join(dir, "default")
	writeFile(t, envFile, "AUTOUPDATE_SOURCE='s3://b/k'\nAUTOUPDATE_RELOAD_CMD=\"systemctl reload hello\"\n")
	fake := filepath.Join(dir, "autoupdate")
	writeFile(t, fake, "#!/bin/sh\necho \"source=$AUTOUPDATE_SOURCE reload=$AUTOUPDATE_RELOAD_CMD\"\n")
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	script := strings.NewReplacer("/etc/default/autoupdate", envFile, "/usr/bin/autoupdate", fake).Replace(block.String())
	out, err := exec.Command("sh", "-e", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "source=s3://b/k reload=systemctl reload hello"; got != want {
		t.Errorf("autoupdate saw %q, want %q", got, want)
	}
}
