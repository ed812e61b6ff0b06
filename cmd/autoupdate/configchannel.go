package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

// configStateDir is the config channel's state directory, inside
// --state-dir: its own records and lock, beside the package's.
const configStateDir = "config"

// configFlags are the raw values of the config channel's flags.
type configFlags struct {
	source, path, mode, group string
}

// configChannel is the validated config channel: Source is nil without
// --config-source.
type configChannel struct {
	Source *release.Address
	Path   string
	Mode   fs.FileMode
	GID    int
	// Group is the --config-group as given, for logs.
	Group string
}

// checkConfigChannel validates the config channel's flags into c.
func checkConfigChannel(c *config, f configFlags) error {
	if f.source == "" {
		if f.path != "" || f.mode != "" || f.group != "" {
			return cli.Usagef("--config-path, --config-mode and --config-group describe the file of --config-source: give --config-source too")
		}
		return nil
	}
	src, err := release.ParseAddress(f.source)
	if err != nil {
		return cli.Usagef("--config-source: %v", err)
	}
	if src == c.Source {
		return cli.Usagef("--config-source is --source: the config channel is a key of its own, e.g. s3://%s/%s", src.Bucket, strings.TrimSuffix(src.Key, filepath.Ext(src.Key))+".env")
	}
	cc := configChannel{Source: &src, Path: f.path, Mode: 0o640, GID: -1, Group: f.group}
	if cc.Path == "" || !filepath.IsAbs(cc.Path) || filepath.Clean(cc.Path) != cc.Path {
		return cli.Usagef("--config-path %q: want the absolute, clean path of the file the service reads, e.g. /etc/default/%s", f.path, c.Package)
	}
	if c.PIDFile == "" && c.ReloadCmd == "" {
		return cli.Usagef("--config-source: a new config reaches the service only through a restart: give --pidfile or --reload-cmd too")
	}
	if f.mode != "" {
		m, err := strconv.ParseUint(f.mode, 8, 32)
		if err != nil || m > 0o777 || m&0o002 != 0 || m&0o600 != 0o600 {
			return cli.Usagef("--config-mode %q: want octal permissions the owner (root) can read and write and others cannot write, e.g. 0640", f.mode)
		}
		cc.Mode = fs.FileMode(m)
	}
	if f.group != "" {
		if cc.GID, err = lookupGroup(f.group); err != nil {
			return cli.Usagef("--config-group: %v", err)
		}
	}
	c.Config = cc
	return nil
}

// lookupGroup returns the GID of a group name or number.
func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("%w (create the group first, or give its number)", err)
	}
	return strconv.Atoi(g.Gid)
}

// withConfigChannel adds the config channel's agent to the package's,
// when --config-source is given: its own state directory, a reload with
// the package's restart settings but no version check, one restart at a
// time between the two (inst.Serial), and the package's status objects
// carrying the config release. It returns the config agent (nil without
// --config-source) and a function closing its state directory.
func withConfigChannel(cfg *config, base agent.Config, pkg **agent.Agent, log *slog.Logger) (*agent.Agent, func(), error) {
	cc := cfg.Config
	if cc.Source == nil {
		return nil, func() {}, nil
	}
	dir, err := state.Open(filepath.Join(cfg.StateDir, configStateDir))
	if err != nil {
		return nil, nil, err
	}
	svc, err := service.New(service.Input{
		PIDFile: cfg.PIDFile, Unit: cfg.ServiceUnit, Signal: cfg.Signal, ReloadCmd: cfg.ReloadCmd,
		HealthURL: cfg.HealthURL, Timeout: cfg.HealthTimeout, Splay: cfg.Splay, Logger: log,
	})
	if err != nil {
		dir.Close()
		return nil, nil, err
	}
	serial := &sync.Mutex{}
	base.Installer.Serial = serial
	base.Installer.Managed = []string{managedPath(cfg)}
	c := base
	c.Channel, c.Installer = *cc.Source, nil
	c.File = &agent.ConfigFile{Dir: dir, Path: cc.Path, Mode: cc.Mode, GID: cc.GID, Service: svc, Serial: serial, Logger: log}
	if n, ok := base.Notifier.(hostNotifier); ok {
		n.channel = *cc.Source
		c.Notifier = n
	}
	c.Changed = func() {
		if *pkg != nil {
			(*pkg).Poke()
		}
	}
	a, err := agent.New(c)
	if err != nil {
		dir.Close()
		return nil, nil, err
	}
	return a, func() { dir.Close() }, nil
}

// managedPath is the config file's path as packages name it: inside
// --dpkg-root when there is one.
func managedPath(cfg *config) string {
	if cfg.DpkgRoot == "" {
		return cfg.Config.Path
	}
	if rel, err := filepath.Rel(cfg.DpkgRoot, cfg.Config.Path); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + rel
	}
	return cfg.Config.Path
}

// runBoth runs the package agent and, when there is one, the config
// agent (once each with --once: the config first, so that a service its
// package starts finds its settings). Either failing to start stops both.
func runBoth(ctx context.Context, cfg *config, pkg, conf *agent.Agent) error {
	if conf == nil {
		if cfg.Once {
			return pkg.Once(ctx)
		}
		return pkg.Run(ctx)
	}
	if cfg.Once {
		if err := conf.Once(ctx); err != nil {
			return fmt.Errorf("config channel: %w", err)
		}
		return pkg.Once(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	confErr := make(chan error, 1)
	go func() {
		err := conf.Run(ctx)
		if err != nil {
			cancel()
			err = fmt.Errorf("config channel: %w", err)
		}
		confErr <- err
	}()
	err := pkg.Run(ctx)
	cancel()
	if cerr := <-confErr; err == nil {
		err = cerr
	}
	return err
}
