package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

const (
	systemdTemplate  = "../../systemd/autoupdate@.service"
	upstartInstance  = "../../upstart/autoupdate-instance.conf"
	upstartInstances = "../../upstart/autoupdate-instances.conf"
	postinstScript   = "../../packaging/autoupdate/postinst"
)

// TestSystemdTemplate: autoupdate@NAME.service is a valid unit, runs the
// agent on NAME's own settings and state directory, and has everything
// else of autoupdate.service: restart policy, KillMode=process (a dpkg run
// outlives its agent), hardening.
func TestSystemdTemplate(t *testing.T) {
	unit := readText(t, systemdTemplate)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if out := testenv.VerifySystemdUnit(t, "autoupdate@web.service", unit,
		map[string]string{"ExecStart=/usr/bin/autoupdate ": "ExecStart=" + exe + " "}); out != "" {
		t.Errorf("systemd-analyze verify: %s", out)
	}
	execStart := "ExecStart=/usr/bin/autoupdate --env-file /etc/autoupdate/%i.conf --state-dir /var/lib/autoupdate/%i"
	for _, want := range []string{"\n" + execStart + "\n", "\nStateDirectory=autoupdate/%i\n", "\nEnvironmentFile=-/etc/autoupdate/credentials\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("template lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "EnvironmentFile=-/etc/default/autoupdate") {
		t.Error("an instance must not read the single agent's /etc/default/autoupdate")
	}
	// Every other line of the single unit's [Service] and [Install].
	differ := []string{"ExecStart=", "StateDirectory=", "EnvironmentFile=-/etc/default/autoupdate"}
	for _, line := range unitLines(readText(t, systemdUnit)) {
		if !slices.ContainsFunc(differ, func(p string) bool { return strings.HasPrefix(line, p) }) && !slices.Contains(unitLines(unit), line) {
			t.Errorf("template lacks autoupdate.service's %q", line)
		}
	}

	// The agent takes ExecStart's arguments as they are meant: the
	// instance's file, and its own state directory.
	dir := t.TempDir()
	conf := filepath.Join(dir, "web.conf")
	writeFile(t, conf, "AUTOUPDATE_SOURCE=s3://b/web.deb\nAUTOUPDATE_PACKAGE=web\nAUTOUPDATE_ALLOW_UNSIGNED=true\n")
	args := strings.Fields(strings.NewReplacer("/etc/autoupdate/%i.conf", conf, "%i", "web").Replace(strings.TrimPrefix(execStart, "ExecStart=")))[1:]
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(%q): %v", args, err)
	}
	if cfg.Source.String() != "s3://b/web.deb" || cfg.Package != "web" || cfg.StateDir != "/var/lib/autoupdate/web" {
		t.Errorf("instance config: source %s, package %s, state %s", cfg.Source, cfg.Package, cfg.StateDir)
	}
	// A missing instance file is a usage error (exit 2: no restart loop).
	if code := run(t.Context(), []string{"--env-file", filepath.Join(dir, "nope.conf")}, io.Discard, io.Discard, func(string) string { return "" }); code != 2 {
		t.Errorf("missing instance file: exit status %d, want 2", code)
	}
}

// unitLines returns a unit's setting lines, without comments.
func unitLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "Description=") && !strings.HasPrefix(l, "Documentation=") {
			out = append(out, l)
		}
	}
	return out
}

// TestUpstartInstanceJobs: the instance job runs the agent on its NAME's
// file and state directory, and the task starts one instance per
// /etc/autoupdate/*.conf, skipping the credentials and odd names.
func TestUpstartInstanceJobs(t *testing.T) {
	for _, path := range []string{upstartInstance, upstartInstances} {
		problems, seen := testenv.CheckUpstartJob(readText(t, path))
		for _, p := range problems {
			t.Errorf("%s: %s", path, p)
		}
		if len(seen["description"]) == 0 || len(seen["script"]) == 0 {
			t.Errorf("%s lacks a description or a script", path)
		}
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "autoupdate")
	writeFile(t, fake, "#!/bin/sh\necho \"$@\"\n")
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	inst := scriptBlock(t, readText(t, upstartInstance), "script")
	inst = strings.NewReplacer("/etc/autoupdate/credentials", filepath.Join(dir, "credentials"), "/usr/bin/autoupdate", fake).Replace(inst)
	out := runSh(t, "NAME=web\n"+inst)
	if want := "--env-file /etc/autoupdate/web.conf --state-dir /var/lib/autoupdate/web"; out != want {
		t.Errorf("instance job ran autoupdate %q, want %q", out, want)
	}

	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"web.conf", "worker.conf", "credentials", "bad name.conf", ".hidden.conf"} {
		writeFile(t, filepath.Join(etc, f), "")
	}
	task := strings.ReplaceAll(scriptBlock(t, readText(t, upstartInstances), "script"), "/etc/autoupdate", etc)
	out = runSh(t, "start() { echo \"$*\"; }\n"+task)
	if want := "autoupdate-instance NAME=web\nautoupdate-instance NAME=worker"; out != want {
		t.Errorf("the task started:\n%s\nwant:\n%s", out, want)
	}
}

// TestPostinstRestartsWithoutBlocking: on upgrade the postinst restarts
// the single agent and every instance with --no-block, since the agent
// running this very dpkg waits for it to end before it can stop; on a
// first install it restarts nothing.
func TestPostinstRestartsWithoutBlocking(t *testing.T) {
	tests := []struct {
		name string
		args string
		want []string
	}{
		{"upgrade", "configure 1.0", []string{"systemctl --system daemon-reload", "systemctl --no-block try-restart autoupdate.service autoupdate@*.service"}},
		{"first install", "configure", []string{"systemctl --system daemon-reload", "deb-systemd-helper unmask autoupdate.service", "deb-systemd-helper enable autoupdate.service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.MkdirAll(filepath.Join(dir, "run-systemd"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "calls")
			for _, tool := range []string{"systemctl", "deb-systemd-helper", "deb-systemd-invoke"} {
				writeFile(t, filepath.Join(bin, tool), "#!/bin/sh\necho \""+tool+" $*\" >> "+log+"\n")
				if err := os.Chmod(filepath.Join(bin, tool), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			script := strings.NewReplacer("/run/systemd/system", filepath.Join(dir, "run-systemd"),
				"policy-rc.d", filepath.Join(dir, "no-policy-rc.d"),
				"/etc/default/autoupdate", filepath.Join(dir, "default")).Replace(readText(t, postinstScript))
			cmd := exec.Command("sh", "-c", script+"\n", "postinst")
			cmd.Args = append(cmd.Args, strings.Fields(tt.args)...)
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "DPKG_ROOT=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("postinst %s: %v\n%s", tt.args, err, out)
			}
			b, _ := os.ReadFile(log)
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("postinst %s ran:\n%s\nwant:\n%s", tt.args, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// scriptBlock returns the body of the job's block opened by the line
// start ("script", "pre-start script").
func scriptBlock(t *testing.T, job, start string) string {
	t.Helper()
	var block strings.Builder
	in := false
	for _, line := range strings.Split(job, "\n") {
		switch {
		case strings.TrimSpace(line) == start:
			in = true
		case in && strings.TrimSpace(line) == "end script":
			return block.String()
		case in:
			block.WriteString(line + "\n")
		}
	}
	t.Fatalf("no %q block", start)
	return ""
}

func runSh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-e", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
