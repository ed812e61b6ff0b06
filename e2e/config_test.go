package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/demo"
)

// configToken stands for a secret in hello's config: it must reach no
// journal line and no status object.
const configToken = "e2e-token-8d41c0e2"

// configChange publishes hello's environment file on its config channel
// under load. Each container's agent writes /etc/default/hello (the unit's
// EnvironmentFile=) with mode 0640 and group hello-config, runs systemctl
// reload hello, and waits for health: hello greets with the new value from
// a new main PID that systemd follows, and no request fails.
func (f *cluster) configChange() {
	t := f.t
	old, cursor := map[string]int{}, map[string]string{}
	for _, s := range f.servers {
		old[s.name], cursor[s.name] = s.mainPID(t), s.journalCursor(t)
	}
	file := filepath.Join(f.work, "hello.env")
	if err := os.WriteFile(file, []byte("HELLO_GREETING=Bonjour\nAPI_TOKEN="+configToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := demo.StartLoad(f.ctx, f.addrs(), 2, waitLimit)
	time.Sleep(500 * time.Millisecond)
	f.pkgdeb("publish", "--kind", "config", "--package", "hello", "--version", "bonjour",
		"--sign-key", filepath.Join(f.work, "shared/release.key"), file, f.config.String())
	start := time.Now()
	f.waitOn(f.config, func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "bonjour" })
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	f.checkLoad(load.Stop(), "config change")
	t.Logf("config bonjour in force on every container %v after the publish", took.Round(100*time.Millisecond))
	for _, s := range f.servers {
		pid := s.checkHello(t, "1.1.0")
		if pid == old[s.name] {
			t.Errorf("%s: hello's main PID is still %d after the config change", s.name, pid)
		}
		if body, err := get(s.addr, "/"); err != nil || !strings.HasPrefix(body, "Bonjour from 1.1.0") {
			t.Errorf("%s: GET / = %q (%v), want Bonjour from 1.1.0", s.name, body, err)
		}
		if got := strings.TrimSpace(s.must(t, "stat", "-c", "%a %G", "/etc/default/hello")); got != "640 "+configGroup {
			t.Errorf("%s: /etc/default/hello has mode and group %q, want 640 %s", s.name, got, configGroup)
		}
		env := s.must(t, "systemctl", "show", "-p", "EnvironmentFiles", "hello")
		if !strings.Contains(env, "/etc/default/hello") {
			t.Errorf("%s: hello.service does not read /etc/default/hello: %s", s.name, env)
		}
		journal := s.must(t, "journalctl", "--no-pager", "-u", "autoupdate", "-u", "hello", "--after-cursor", cursor[s.name])
		if strings.Contains(journal, configToken) {
			t.Errorf("%s: the config's token is in the journal", s.name)
		}
		if !strings.Contains(journal, "Reloading hello") {
			t.Errorf("%s: the journal shows no systemctl reload of hello for the config:\n%s", s.name, journal)
		}
	}
	for _, h := range f.status().Hosts {
		if h.Config == nil || h.Config.Version != "bonjour" {
			t.Errorf("pkgdeb status of the package channel: %s runs config %+v, want bonjour", h.Host, h.Config)
		}
	}
}
