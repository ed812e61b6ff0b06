package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
)

// MaxConfigSize bounds a config release: one larger is refused from its
// manifest, before anything is downloaded. A configuration file is small;
// whoever can write the config channel must not make every host fill its
// disk or memory.
const MaxConfigSize = 1 << 20

// LocalConfigVersion is the version recorded for the file a ConfigFile
// found at its path before it first wrote it: kept so that the first config
// release can be rolled back to it.
const LocalConfigVersion = "local"

// ConfigFile is the target of a config channel: a file the agent owns,
// such as the environment file a service reads at start and at each
// restart (restart.Options.EnvFiles). Its transaction mirrors
// Installer's, with a file write instead of dpkg: write, reload, health,
// and on failure the previous file back and a reload again.
//
// The file's content may hold secrets: no content ever reaches a log
// line, a status object, a notification or an error, only its version
// and SHA-256. Copies of the current and previous versions are kept in
// Dir, which is private (0700, files 0600).
type ConfigFile struct {
	// Dir is the config channel's own open, locked state directory (not
	// the package channel's): its installed, previous and bad records
	// are the config's.
	Dir *state.Dir
	// Path is the managed file. Its directory must exist.
	Path string
	// Mode is the file's permission bits; default 0600.
	Mode fs.FileMode
	// GID is the file's group; -1 keeps the agent's own (root's).
	GID int
	// Service is reloaded after each write and must prove healthy. It
	// must not check a version (service.Input.VersionURL): a config
	// changes no version the service reports. nil writes without a
	// reload.
	Service Service
	// Serial, when set, is held from the write to the end of the health
	// wait (or of the rollback). Give the package Installer's Serial, so
	// that a package install and a config change that arrive together
	// restart the service one after the other, each proving health on
	// its own.
	Serial sync.Locker
	// Logger receives one line per write, reload and rollback; default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// configExt names the kept copies of config releases in Dir.
const configExt = ".conf"

// Install writes rel's kept copy (rel.Deb) to Path, reloads the service
// and waits for its health, saving s at every step as Installer.Install
// does: the intent first, the bad mark before the rollback. On failure the
// previously installed file (s.Installed) is written back and the service
// reloaded again; with none (the file did not exist before the agent
// managed it) the file is removed. Errors never quote the file.
func (c *ConfigFile) Install(ctx context.Context, s *state.State, rel *state.Release) (Outcome, error) {
	log := c.logger().With("config_version", rel.Version, "sha256", rel.SHA256, "path", c.Path)
	if c.Serial != nil {
		c.Serial.Lock()
		defer c.Serial.Unlock()
	}
	s.Installing = rel
	if err := c.Dir.Save(s); err != nil {
		return Failed, fmt.Errorf("write config %s: %w", rel.Version, err)
	}
	if bad, ok := s.Bad[rel.SHA256]; ok {
		log.Warn("resuming the rollback of a bad config", "reason", bad.Reason)
		return c.rollback(ctx, s, rel, errors.New(bad.Reason))
	}
	start := c.now()
	log.Info("writing config")
	err := c.write(rel)
	if err == nil {
		err = c.hideValues(c.reload(ctx, log), rel, s.Installed)
	}
	if ctx.Err() != nil {
		return Failed, fmt.Errorf("write config %s: interrupted: %w", rel.Version, ctx.Err())
	}
	if err == nil {
		s.Previous, s.Installed, s.Installing = s.Installed, rel, nil
		if err := c.Dir.Save(s); err != nil {
			return Failed, fmt.Errorf("write config %s: %w", rel.Version, err)
		}
		if err := c.Dir.PruneDebs(s); err != nil {
			log.Warn("could not delete old config copies", "err", err)
		}
		log.Info("config installed", "duration", c.now().Sub(start).Round(time.Millisecond))
		return OK, nil
	}
	log.Warn("config failed", "err", err, "duration", c.now().Sub(start).Round(time.Millisecond))
	s.MarkBad(rel.SHA256, rel.Version, err.Error(), c.now())
	if serr := c.Dir.Save(s); serr != nil {
		return Failed, errors.Join(fmt.Errorf("write config %s: %w", rel.Version, err), serr)
	}
	return c.rollback(ctx, s, rel, err)
}

// rollback puts s.Installed's file back (or removes the file when there
// was none) after rel failed with cause, and reloads.
func (c *ConfigFile) rollback(ctx context.Context, s *state.State, rel *state.Release, cause error) (Outcome, error) {
	cause = fmt.Errorf("config %s: %w", rel.Version, cause)
	prev := s.Installed
	what := "no file"
	if prev != nil {
		what = prev.Version
	}
	log := c.logger().With("path", c.Path, "from_config_version", rel.Version)
	log.Info("rolling config back", "config_version", what)
	var err error
	if prev != nil && prev.Deb != "" {
		err = c.write(prev)
	} else if rerr := os.Remove(c.Path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = fmt.Errorf("remove config file: %w", rerr)
	}
	if err == nil {
		err = c.hideValues(c.reload(ctx, log), rel, prev)
	}
	if ctx.Err() != nil {
		return Failed, fmt.Errorf("%w; rollback to %s interrupted: %w", cause, what, ctx.Err())
	}
	s.Installing = nil
	if serr := c.Dir.Save(s); serr != nil {
		return Failed, errors.Join(cause, serr)
	}
	if err != nil {
		log.Error("config rollback failed", "err", err)
		return Failed, fmt.Errorf("%w; rollback to %s failed: %w", cause, what, err)
	}
	if err := c.Dir.PruneDebs(s); err != nil {
		log.Warn("could not delete old config copies", "err", err)
	}
	log.Info("config rolled back", "config_version", what)
	return RolledBack, cause
}

// reload restarts the service on the file just written. A service that
// is not running is not started: its supervisor reads the file when it
// starts it.
func (c *ConfigFile) reload(ctx context.Context, log *slog.Logger) error {
	if c.Service == nil {
		return nil
	}
	_, err := c.Service.Restart(ctx, "")
	if errors.Is(err, service.ErrNotRunning) {
		log.Info("service not running; config written without a reload")
		return nil
	}
	if err != nil {
		return fmt.Errorf("reload after writing the config: %w", err)
	}
	return nil
}

// write puts rel's kept copy at Path atomically, with the file's mode and
// group set before any byte is written: a temporary file in Path's
// directory created 0600, its group and mode set, the content copied,
// fsync, rename over Path, fsync of the directory. A reader sees the old
// or the new file, never a mix, and never the new content under the
// wrong permissions.
func (c *ConfigFile) write(rel *state.Release) error {
	src, err := os.Open(c.Dir.DebPath(rel.Deb))
	if err != nil {
		return fmt.Errorf("open the kept copy of config %s: %w", rel.Version, err)
	}
	defer src.Close()
	dir := filepath.Dir(c.Path)
	f, err := os.CreateTemp(dir, c.tempPattern())
	if err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	tmp := f.Name()
	if err := c.fill(f, src); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write config file %s: %w", c.Path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write config file %s: %w", c.Path, err)
	}
	if err := os.Rename(tmp, c.Path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write config file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write config file %s: %w", c.Path, err)
	}
	return nil
}

// fill sets f's group and mode, then copies src into it and syncs it.
func (c *ConfigFile) fill(f *os.File, src io.Reader) error {
	if c.GID >= 0 {
		if err := f.Chown(-1, c.GID); err != nil {
			return fmt.Errorf("set group %d: %w", c.GID, err)
		}
	}
	// Chmod after Chown: a chown may clear set-id bits, and the umask
	// has no say on fchmod.
	if err := f.Chmod(c.mode()); err != nil {
		return fmt.Errorf("set mode: %w", err)
	}
	if _, err := io.Copy(f, io.LimitReader(src, MaxConfigSize+1)); err != nil {
		return err
	}
	return f.Sync()
}

// Recover runs once at startup, like Installer.Recover: it loads the
// state, returns an interrupted write to resume, and makes the state agree
// with the file on disk. A file that differs from the installed config
// (edited by hand) is forgotten, so the next check writes the channel's
// config again; a file found before any config was installed is kept as
// version LocalConfigVersion, so that the first config can be rolled back
// to it.
func (c *ConfigFile) Recover(ctx context.Context) (*state.State, *state.Release, error) {
	log := c.logger().With("path", c.Path)
	if err := c.clean(log); err != nil {
		return nil, nil, err
	}
	s, err := c.Dir.Load()
	if err != nil {
		return nil, nil, err
	}
	var resume *state.Release
	if r := s.Installing; r != nil {
		if _, err := os.Stat(c.Dir.DebPath(r.Deb)); r.Deb == "" || err != nil {
			log.Warn("dropping an interrupted config write whose copy is gone", "config_version", r.Version, "sha256", r.SHA256)
			s.Installing = nil
		} else {
			log.Info("resuming an interrupted config write", "config_version", r.Version, "sha256", r.SHA256)
			resume = r
		}
	}
	if resume == nil {
		if err := c.adopt(s, log); err != nil {
			return nil, nil, err
		}
	}
	s.ETag = ""
	if err := c.Dir.Save(s); err != nil {
		return nil, nil, err
	}
	return s, resume, nil
}

// tempPattern matches write's temporary files in Path's directory.
func (c *ConfigFile) tempPattern() string {
	return "." + filepath.Base(c.Path) + ".autoupdate-*"
}

// clean checks that Path's directory exists (a missing one would fail
// every write, and mark good configs bad) and removes the temporary files
// a killed agent left there.
func (c *ConfigFile) clean(log *slog.Logger) error {
	dir := filepath.Dir(c.Path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("config file %s: its directory %s must exist: create it, or install the package that does, before starting", c.Path, dir)
	}
	temps, err := filepath.Glob(filepath.Join(dir, c.tempPattern()))
	if err != nil {
		return fmt.Errorf("config file %s: %w", c.Path, err)
	}
	for _, t := range temps {
		log.Info("removing an unfinished config write", "file", t)
		if err := os.Remove(t); err != nil {
			return fmt.Errorf("remove an unfinished config write: %w", err)
		}
	}
	return nil
}

// adopt makes s.Installed agree with the file on disk (see Recover).
func (c *ConfigFile) adopt(s *state.State, log *slog.Logger) error {
	f, err := os.Open(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if s.Installed != nil {
			log.Warn("the config file is gone; it will be written again", "config_version", s.Installed.Version)
			s.Installed = nil
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	defer f.Close()
	tmp, err := c.Dir.CreateTemp()
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(f, MaxConfigSize+1))
	sum := hex.EncodeToString(h.Sum(nil))
	if err == nil && n > MaxConfigSize {
		err = fmt.Errorf("config file %s is over %d bytes", c.Path, MaxConfigSize)
	}
	if err != nil || (s.Installed != nil && s.Installed.SHA256 == sum) {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if s.Installed != nil {
		log.Warn("the config file differs from the installed config (edited by hand?); it will be written again", "config_version", s.Installed.Version)
	}
	name, err := c.Dir.Keep(tmp, sum, configExt)
	if err != nil {
		return err
	}
	s.Installed = &state.Release{Version: LocalConfigVersion, SHA256: sum, Deb: name}
	return nil
}

func (c *ConfigFile) mode() fs.FileMode {
	if c.Mode == 0 {
		return 0o600
	}
	return c.Mode.Perm()
}

func (c *ConfigFile) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *ConfigFile) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
