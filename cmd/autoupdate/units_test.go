package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

const (
	systemdUnit = "../../systemd/autoupdate.service"
	upstartJob  = "../../upstart/autoupdate.conf"
)

// verifySystemd runs systemd-analyze verify on unit text and returns its
// output, which must be empty. ExecStart is pointed at a real executable,
// since verify checks it.
func verifySystemd(t *testing.T, text string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return testenv.VerifySystemdUnit(t, "autoupdate.service", text,
		map[string]string{"ExecStart=/usr/bin/autoupdate": "ExecStart=" + exe})
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
		"\nEnvironmentFile=-/etc/autoupdate/credentials\n", "\nStateDirectory=autoupdate\n", "\nStateDirectoryMode=0700\n", "\nKillMode=process\n",
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

func TestUpstartJob(t *testing.T) {
	b, err := os.ReadFile(upstartJob)
	if err != nil {
		t.Fatal(err)
	}
	job := string(b)
	problems, seen := testenv.CheckUpstartJob(job)
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
		"shell syntax error": strings.Replace(job, "\tfi\n\tset +a", "\tset +a", 1),
		"unterminated block": job + "\nscript\n\ttrue\n",
	} {
		if p, _ := testenv.CheckUpstartJob(broken); len(p) == 0 {
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
