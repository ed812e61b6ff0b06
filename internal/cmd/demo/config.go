package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// demoToken stands for a secret in hello's config: the demo checks that
// it reaches no agent log and no status object.
const demoToken = "demo-token-5f2c9a17"

// configChange publishes hello's first config, a greeting and a token,
// under load. Each agent writes HOST/hello.env atomically, reloads hello
// (which reads the file again as it upgrades itself) and checks its
// health.
func (d *driver) configChange(ctx context.Context) error {
	file, err := d.writeConfig("bonjour.env", "HELLO_GREETING=Bonjour\nAPI_TOKEN="+demoToken+"\n")
	if err != nil {
		return err
	}
	d.s.say("configuration without a rebuild: hello's environment file goes on a channel of its own, signed, staged and rolled back like a package")
	err = d.underLoad(ctx, loadStep{phase: "the config change", publish: d.configPublisher(file, "bonjour", false), channel: d.config,
		each: func(h *host, st fleet.HostStatus, after time.Duration) {
			h.configured = after
			d.s.say("%s: wrote config bonjour to HOST/hello.env and reloaded hello %.1fs after the publish; GET / says %q",
				h.name, after.Seconds(), strings.TrimSpace(get(h.addr, "/")))
		}})
	if err != nil {
		return err
	}
	return d.greetEverywhere("Bonjour")
}

// badConfig publishes a config that makes hello fail its health check:
// every host puts the previous file back by itself. Then the channel is
// rolled back so that new servers get the good config, and the demo
// checks that the token reached no log and no status object.
func (d *driver) badConfig(ctx context.Context) error {
	file, err := d.writeConfig("broken.env", "HELLO_GREETING=Hola\nAPI_TOKEN="+demoToken+"\nHELLO_FAIL_HEALTH=1\n")
	if err != nil {
		return err
	}
	note := fmt.Sprintf("a bad config: HELLO_FAIL_HEALTH=1 makes hello answer 500 on /healthz; each agent writes it, reloads, and after --health-timeout %s puts bonjour back and reloads again",
		d.o.healthTimeout)
	err = d.underLoad(ctx, loadStep{phase: "the bad config and its rollback", note: note, publish: d.configPublisher(file, "hola-broken", true), wantCode: 1, channel: d.config,
		each: func(h *host, st fleet.HostStatus, after time.Duration) {
			if st.State != fleet.StateRolledBack || st.Version != "bonjour" {
				d.s.say("%s: %s %s, not rolled back to bonjour", h.name, st.State, st.Version)
				return
			}
			h.configRolledBack = after
			d.s.say("%s: put config bonjour back by itself %.1fs after the publish; reason: %s", h.name, after.Seconds(), st.Error)
		}})
	if err != nil {
		return err
	}
	if err := d.greetEverywhere("Bonjour"); err != nil {
		return err
	}
	args := append([]string{"rollback", d.config.String(), "--to", "previous", "--sign-key", d.key()}, d.waitArgs()...)
	if _, err := d.pkgdeb(ctx, args...); err != nil {
		return err
	}
	for _, ch := range []string{d.config.String(), d.channel.String()} {
		if _, err := d.pkgdeb(ctx, "status", ch); err != nil {
			return err
		}
	}
	return d.tokenHidden(ctx)
}

// configPublisher returns a step's signed publish of the config file as
// version, followed with --wait (keepGoing as in publisher).
func (d *driver) configPublisher(file, version string, keepGoing bool) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		args := []string{"publish", "--kind", "config", "--package", "hello", "--version", version, "--sign-key", d.key(), file, d.config.String()}
		args = append(args, d.waitArgs()...)
		if keepGoing {
			args = append(args, "--keep-going")
		}
		code, _, err := d.pkgdebExit(ctx, args...)
		return code, err
	}
}

// writeConfig writes a config file to publish into the work directory.
func (d *driver) writeConfig(name, content string) (string, error) {
	path := filepath.Join(d.work, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return "", err
	}
	d.s.say("%s: %s", name, strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(content, demoToken, "…")), "\n", " "))
	return path, nil
}

// greetEverywhere checks that every host's hello greets with want.
func (d *driver) greetEverywhere(want string) error {
	for _, h := range d.hosts {
		if g := get(h.addr, "/"); !strings.HasPrefix(g, want+" from ") {
			return fmt.Errorf("%s greets %q, want %s", h.name, strings.TrimSpace(g), want)
		}
	}
	return nil
}

// tokenHidden fails when the config's token is in an agent's log or in a
// host's status object on either channel.
func (d *driver) tokenHidden(ctx context.Context) error {
	for _, h := range d.hosts {
		b, err := os.ReadFile(filepath.Join(h.dir, "agent.log"))
		if err != nil {
			return err
		}
		if strings.Contains(string(b), demoToken) {
			return fmt.Errorf("%s: the config's API_TOKEN is in HOST/agent.log", h.name)
		}
	}
	var leaked []string
	for _, ch := range []release.Address{d.channel, d.config} {
		err := d.eachHost(ctx, ch, func(h *host, st fleet.HostStatus) {
			if b, _ := json.Marshal(st); strings.Contains(string(b), demoToken) {
				leaked = append(leaked, h.name+" on "+ch.String())
			}
		})
		if err != nil {
			return err
		}
	}
	if len(leaked) > 0 {
		return fmt.Errorf("the config's API_TOKEN is in the status objects of %s", strings.Join(leaked, ", "))
	}
	d.s.say("the config's API_TOKEN is in no agent log and no status object (files are 0640, written by the agent only)")
	return nil
}
