package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/agent/lifecycle"
	"github.com/debfleet/debfleet/internal/cli"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "autoupdate")
	writeFile(t, envFile, `AUTOUPDATE_SOURCE=s3://file-bucket/app.deb
AUTOUPDATE_PACKAGE=hello
AUTOUPDATE_INTERVAL=30s
AUTOUPDATE_PUBLIC_KEY="a.pub b.pub"
AUTOUPDATE_REPORT=false
`)
	badEnvFile := filepath.Join(dir, "bad")
	writeFile(t, badEnvFile, "AUTOUPDATE_NOPE=1\n")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string // substring; "" for success
	}{
		{
			name: "defaults",
			args: []string{"--source", "s3://b/app/production.deb", "--package", "hello", "--allow-unsigned", "--host", "h1", "--env-file", envFileEmpty(t)},
			check: func(t *testing.T, c *config) {
				if c.Source.Bucket != "b" || c.Source.Key != "app/production.deb" || c.Interval != 10*time.Second ||
					c.Jitter != 2*time.Second || c.StateDir != "/var/lib/autoupdate" || c.Signal != syscall.SIGHUP ||
					c.HealthTimeout != 30*time.Second || !c.Report || c.Once || c.Heartbeat != 10*time.Minute ||
					c.LeaseTTL != agent.DefaultLeaseTTL {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "env file",
			args: []string{"--env-file", envFile, "--host", "h1"},
			check: func(t *testing.T, c *config) {
				if c.Source.Bucket != "file-bucket" || c.Package != "hello" || c.Interval != 30*time.Second ||
					c.Jitter != 6*time.Second || c.Report || !reflect.DeepEqual(c.PublicKeys, []string{"a.pub", "b.pub"}) {
					t.Errorf("from env file: %+v", c)
				}
			},
		},
		{
			name: "command line beats environment beats file",
			args: []string{"--env-file", envFile, "--host", "h1", "--interval", "5s"},
			env:  map[string]string{"AUTOUPDATE_INTERVAL": "7s", "AUTOUPDATE_SOURCE": "s3://env-bucket/app.deb"},
			check: func(t *testing.T, c *config) {
				if c.Interval != 5*time.Second || c.Source.Bucket != "env-bucket" || c.Package != "hello" {
					t.Errorf("precedence: interval %s source %s package %s", c.Interval, c.Source, c.Package)
				}
			},
		},
		{
			name: "env file named by the environment",
			args: []string{"--host", "h1"},
			env:  map[string]string{"AUTOUPDATE_ENV_FILE": envFile},
			check: func(t *testing.T, c *config) {
				if c.Source.Bucket != "file-bucket" {
					t.Errorf("source %s", c.Source)
				}
			},
		},
		{
			name: "explicit jitter, signal by name and number",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--jitter", "0", "--signal", "usr2"},
			check: func(t *testing.T, c *config) {
				if c.Jitter != 0 || c.Signal != syscall.SIGUSR2 {
					t.Errorf("jitter %s signal %v", c.Jitter, c.Signal)
				}
			},
		},
		{
			name: "lease TTL from the environment",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t)},
			env:  map[string]string{"AUTOUPDATE_LEASE_TTL": "90s"},
			check: func(t *testing.T, c *config) {
				if c.LeaseTTL != 90*time.Second {
					t.Errorf("lease TTL %s, want 1m30s", c.LeaseTTL)
				}
			},
		},
		{
			name: "lease TTL on the command line",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--lease-ttl", "3s"},
			env:  map[string]string{"AUTOUPDATE_LEASE_TTL": "90s"},
			check: func(t *testing.T, c *config) {
				if c.LeaseTTL != 3*time.Second {
					t.Errorf("lease TTL %s, want 3s", c.LeaseTTL)
				}
			},
		},
		{name: "lease TTL too short", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--lease-ttl", "2s"}, wantErr: "--lease-ttl 2s: must be between 3s"},
		{name: "lease TTL zero", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--lease-ttl", "0"}, wantErr: "--lease-ttl 0s"},
		{name: "lease TTL too long", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--lease-ttl", "2h"}, wantErr: "and 1h0m0s"},
		{name: "bad lease TTL in the environment", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t)}, env: map[string]string{"AUTOUPDATE_LEASE_TTL": "a minute"}, wantErr: "AUTOUPDATE_LEASE_TTL"},
		{name: "notify URL plain http off loopback", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "h"},
			env: map[string]string{"AUTOUPDATE_NOTIFY_URL": "http://chat.lan/hooks/secret"}, wantErr: "--notify-url: notification URL http://chat.lan/...: plain http://"},
		{name: "notify URL not a URL", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "h", "--notify-url", "hooks.slack.com/x"},
			wantErr: "want an http:// or https:// URL"},
		{
			name: "notify URL plain http with --insecure-endpoint",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "h", "--insecure-endpoint"},
			env:  map[string]string{"AUTOUPDATE_NOTIFY_URL": "http://chat.lan/hooks/secret"},
			check: func(t *testing.T, c *config) {
				if c.NotifyURL != "http://chat.lan/hooks/secret" {
					t.Errorf("notify URL %q", c.NotifyURL)
				}
			},
		},
		{name: "lifecycle hook without --once", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--lifecycle-hook", "launch"}, wantErr: "give --once too"},
		{name: "lifecycle hook in the environment of the daemon", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t)},
			env: map[string]string{"AUTOUPDATE_LIFECYCLE_HOOK": "launch"}, wantErr: "not in /etc/default/autoupdate"},
		{name: "lifecycle group without hook", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--once", "--lifecycle-group", "web"}, wantErr: "give --lifecycle-hook too"},
		{name: "lifecycle region without hook", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--once"},
			env: map[string]string{"AUTOUPDATE_LIFECYCLE_REGION": "eu-west-1"}, wantErr: "give --lifecycle-hook too"},
		{name: "bad lifecycle hook name", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--once", "--lifecycle-hook", "a hook"}, wantErr: "lifecycle hook name"},
		{name: "bad lifecycle instance ID", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--once", "--lifecycle-hook", "launch", "--lifecycle-instance-id", "web-1"}, wantErr: "instance ID"},
		{
			name: "lifecycle hook with --once, from the environment",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--once", "--lifecycle-group", "web-asg"},
			env:  map[string]string{"AUTOUPDATE_LIFECYCLE_HOOK": "launch", "AUTOUPDATE_LIFECYCLE_INSTANCE_ID": "i-0123456789abcdef0", "AUTOUPDATE_LIFECYCLE_REGION": "eu-west-3"},
			check: func(t *testing.T, c *config) {
				want := lifecycle.Action{Hook: "launch", Group: "web-asg", InstanceID: "i-0123456789abcdef0"}
				if c.Lifecycle != want || c.LifecycleRegion != "eu-west-3" {
					t.Errorf("lifecycle %+v in %s, want %+v in eu-west-3", c.Lifecycle, c.LifecycleRegion, want)
				}
			},
		},
		{name: "missing source", args: []string{"--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t)}, wantErr: "--source is required"},
		{name: "missing package", args: []string{"--source", "s3://b/k", "--env-file", envFileEmpty(t)}, wantErr: "--package is required"},
		{name: "bad source", args: []string{"--source", "b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t)}, wantErr: "s3://bucket/key"},
		{name: "jitter above interval", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--jitter", "11s"}, wantErr: "between 0 and --interval"},
		{name: "zero interval", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--interval", "0s"}, wantErr: "must be positive"},
		{name: "unknown signal", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--signal", "FOO"}, wantErr: "unknown signal"},
		{name: "health without restart", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--health-url", "http://127.0.0.1/h"}, wantErr: "give --pidfile or --reload-cmd"},
		{name: "bad health url", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--pidfile", "/run/x.pid", "--health-url", "127.0.0.1:80"}, wantErr: "http:// or https://"},
		{name: "service unit without pidfile", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--reload-cmd", "true", "--service-unit", "hello.service"}, wantErr: "give --pidfile too"},
		{name: "bad service unit", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--pidfile", "/run/x.pid", "--service-unit", "/system.slice/hello.service"}, wantErr: "--service-unit: unit"},
		{name: "bad metrics addr", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--metrics-addr", "9100"}, wantErr: "host:port"},
		{name: "host with slash", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "a/b"}, wantErr: "without /"},
		{name: "host with a terminal escape", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "web\x1b[2J"}, wantErr: "printable ASCII"},
		{name: "host with a backslash", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "a\\b"}, wantErr: "printable ASCII"},
		{name: "host with a non-ASCII letter", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "wéb"}, wantErr: "printable ASCII"},
		{name: "host too long", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--env-file", envFileEmpty(t), "--host", "" + strings.Repeat("h", 256) + ""}, wantErr: "printable ASCII"},
		{name: "neither a key nor unsigned", args: []string{"--source", "s3://b/k", "--package", "p", "--env-file", envFileEmpty(t)}, wantErr: "pkgdeb keygen --out release"},
		{name: "a key and unsigned", args: []string{"--source", "s3://b/k", "--package", "p", "--env-file", envFileEmpty(t), "--public-key", "a.pub", "--allow-unsigned"}, wantErr: "choose one"},
		{name: "unsigned from the environment", args: []string{"--source", "s3://b/k", "--package", "p", "--host", "h", "--env-file", envFileEmpty(t)},
			env: map[string]string{"AUTOUPDATE_ALLOW_UNSIGNED": "true"}, check: func(t *testing.T, c *config) {
				if !c.AllowUnsigned || len(c.PublicKeys) != 0 {
					t.Errorf("unsigned mode from the environment: %+v", c)
				}
			}},
		{name: "unknown setting in the env file", args: []string{"--env-file", badEnvFile}, wantErr: "unknown setting AUTOUPDATE_NOPE"},
		{name: "bad value in the environment", args: []string{"--env-file", envFile}, env: map[string]string{"AUTOUPDATE_INTERVAL": "soon"}, wantErr: "AUTOUPDATE_INTERVAL"},
		{name: "explicit env file missing", args: []string{"--env-file", filepath.Join(dir, "nope")}, wantErr: "env file"},
		{name: "positional argument", args: []string{"s3://b/k"}, wantErr: "unexpected argument"},
		{
			name: "hold file, URL and max-hold from the environment",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t)},
			env:  map[string]string{"AUTOUPDATE_HOLD_FILE": "/run/hello/hold", "AUTOUPDATE_HOLD_URL": "http://127.0.0.1:8080/hold", "AUTOUPDATE_MAX_HOLD": "1h"},
			check: func(t *testing.T, c *config) {
				if c.HoldFile != "/run/hello/hold" || c.HoldURL != "http://127.0.0.1:8080/hold" || c.MaxHold != time.Hour || holdOf(c) == nil {
					t.Errorf("hold settings: %+v", c)
				}
			},
		},
		{
			name: "no hold by default",
			args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t)},
			check: func(t *testing.T, c *config) {
				if c.MaxHold != agent.DefaultMaxHold || holdOf(c) != nil {
					t.Errorf("hold defaults: %+v", c)
				}
			},
		},
		{name: "relative hold file", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--hold-file", "hold"}, wantErr: "want an absolute path"},
		{name: "hold URL not a URL", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--hold-url", "127.0.0.1:8080/hold"}, wantErr: "e.g. http://127.0.0.1:8080/hold"},
		{name: "zero max-hold", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--max-hold", "0s"}, wantErr: "--max-hold 0s: must be positive"},
		{
			name: "config channel",
			args: append(configArgs(t), "--config-mode", "0600", "--config-group", "daemon"),
			check: func(t *testing.T, c *config) {
				cc := c.Config
				if cc.Source == nil || cc.Source.Key != "app/production.env" || cc.Path != "/etc/default/hello" || cc.Mode != 0o600 || cc.GID != 1 {
					t.Errorf("config channel: %+v", cc)
				}
			},
		},
		{
			name: "config channel defaults",
			args: configArgs(t),
			check: func(t *testing.T, c *config) {
				if cc := c.Config; cc.Mode != 0o640 || cc.GID != -1 {
					t.Errorf("config channel defaults: %+v", cc)
				}
			},
		},
		{name: "config path without source", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--config-path", "/etc/default/p"}, wantErr: "give --config-source too"},
		{name: "config source is the package channel", args: []string{"--source", "s3://b/app/production.deb", "--package", "hello", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--pidfile", "/run/hello.pid", "--config-source", "s3://b/app/production.deb", "--config-path", "/etc/default/hello"}, wantErr: "e.g. s3://b/app/production.env"},
		{name: "relative config path", args: append(configArgs(t), "--config-path", "default/hello"), wantErr: "want the absolute, clean path"},
		{name: "config without restart", args: []string{"--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t), "--config-source", "s3://b/k.env", "--config-path", "/etc/default/p"}, wantErr: "give --pidfile or --reload-cmd too"},
		{name: "world-writable config", args: append(configArgs(t), "--config-mode", "0666"), wantErr: "others cannot write"},
		{name: "config mode not octal", args: append(configArgs(t), "--config-mode", "rw-r-----"), wantErr: "e.g. 0640"},
		{name: "unknown config group", args: append(configArgs(t), "--config-group", "no-such-group-here"), wantErr: "create the group first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			c, err := parseConfig(tt.args, getenv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var ue *cli.UsageError
				if !errors.As(err, &ue) {
					t.Errorf("err %v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestEveryFlagHasAnEnvName(t *testing.T) {
	fs, _ := newFlagSet(io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := flagName(envName(f.Name))
		if !ok || name != f.Name {
			t.Errorf("flag %s: env name %s maps back to %q", f.Name, envName(f.Name), name)
		}
		if f.Usage == "" {
			t.Errorf("flag %s has no help", f.Name)
		}
	})
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: autoupdate", "AUTOUPDATE_SOURCE", "Examples:", "-expect-version", "-public-key", "-dpkg-root", "--once --lifecycle-hook debfleet-launch", "aws:autoscaling:groupName"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"HUP", syscall.SIGHUP, true}, {"SIGUSR2", syscall.SIGUSR2, true}, {"term", syscall.SIGTERM, true},
		{"1", syscall.SIGHUP, true}, {"0", 0, false}, {"99", 0, false}, {"KILLME", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseSignal(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func envFileEmpty(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "empty")
	writeFile(t, p, "# nothing\n")
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// configArgs are valid flags with a config channel.
func configArgs(t *testing.T) []string {
	return []string{"--source", "s3://b/app/production.deb", "--package", "hello", "--allow-unsigned", "--host", "h", "--env-file", envFileEmpty(t),
		"--pidfile", "/run/hello.pid", "--config-source", "s3://b/app/production.env", "--config-path", "/etc/default/hello"}
}
