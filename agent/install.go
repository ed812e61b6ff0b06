package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
)

// Outcome is how an install ended, as reported in the status object.
type Outcome string

// Outcomes of Installer.Install.
const (
	// OK: the release is installed and the service proved healthy on it.
	OK Outcome = "ok"
	// RolledBack: the release failed (dpkg or health) and the previously
	// installed release was put back and proved healthy again.
	RolledBack Outcome = "rolled-back"
	// Failed: the release failed and there was nothing to roll back to, or
	// the rollback failed too. The service may be down.
	Failed Outcome = "failed"
)

// Installer runs the install transaction on this host: intent record,
// dpkg, restart, health, and the local rollback when any of them fails.
type Installer struct {
	// Dir is the open, locked state directory; the .debs it installs are
	// kept there.
	Dir *state.Dir
	// Dpkg installs the packages.
	Dpkg Packages
	// Service restarts the service and checks its health after each
	// install. nil installs without restarting anything.
	Service Service
	// Serial, when set, is held from dpkg to the end of the health wait
	// (or of the rollback): give the same lock as the service's
	// ConfigFile.Serial, so that a package and a config that arrive
	// together restart the service one after the other.
	Serial sync.Locker
	// Managed are paths (as the package names them, e.g.
	// /etc/default/hello) of files a config channel manages on this
	// host. A release that ships one of them other than as a conffile is
	// refused, since dpkg would overwrite it; as a conffile, dpkg
	// (--force-confold) keeps the managed file and puts the package's
	// beside it as .dpkg-dist.
	Managed []string
	// Logger receives one line per install, rollback and recovery; default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Install installs rel, whose .deb is already kept in the state directory
// (rel.Deb), and updates s, saving it at every step so that a kill at any
// point is recovered by Recover:
//
//  1. s.Installing = rel is saved before dpkg runs.
//  2. dpkg -i, then the service is restarted and must prove healthy on
//     rel.Version (unless it is not running at all: see
//     service.ErrNotRunning).
//  3. Success: rel becomes s.Installed, the release it replaces becomes
//     s.Previous (its .deb kept), and older .debs are deleted.
//  4. Failure: rel's SHA-256 is marked bad (saved before anything else, so
//     it is never retried even after a crash), the release that was
//     installed before is installed again from its kept .deb and the
//     service restarted on it.
//
// When ctx ends midway Install returns ctx's error and leaves
// s.Installing set, so that the next start resumes. Otherwise the error
// says why the release failed; the Outcome says where the host ended up.
func (in *Installer) Install(ctx context.Context, s *state.State, rel *state.Release) (Outcome, error) {
	log := in.logger().With("version", rel.Version, "sha256", rel.SHA256, "version_id", rel.VersionID)
	if in.Serial != nil {
		in.Serial.Lock()
		defer in.Serial.Unlock()
	}
	resumed := s.Installing != nil && s.Installing.SHA256 == rel.SHA256
	s.Installing = rel
	if err := in.Dir.Save(s); err != nil {
		return Failed, fmt.Errorf("install %s: %w", rel.Version, err)
	}
	if bad, ok := s.Bad[rel.SHA256]; ok {
		// A previous run marked it bad and died before the rollback ended.
		log.Warn("resuming the rollback of a bad release", "reason", bad.Reason)
		return in.rollback(ctx, s, rel, errors.New(bad.Reason))
	}
	start := in.now()
	var err error
	if resumed && in.dpkgHas(ctx, rel) {
		// dpkg finished before the agent died. Installing again would
		// run the maintainer scripts again, and a postinst that restarts
		// the agent (its own package) would loop.
		log.Info("resuming: dpkg already installed the release")
	} else {
		log.Info("installing release")
		err = in.Dpkg.Install(ctx, in.Dir.DebPath(rel.Deb))
	}
	if err == nil {
		err = in.restart(ctx, rel, log)
	}
	if ctx.Err() != nil {
		return Failed, fmt.Errorf("install %s: interrupted: %w", rel.Version, ctx.Err())
	}
	if err == nil {
		s.Previous, s.Installed, s.Installing = s.Installed, rel, nil
		if err := in.Dir.Save(s); err != nil {
			return Failed, fmt.Errorf("install %s: %w", rel.Version, err)
		}
		if err := in.Dir.PruneDebs(s); err != nil {
			log.Warn("could not delete old packages", "err", err)
		}
		log.Info("release installed", "duration", in.now().Sub(start).Round(time.Millisecond))
		return OK, nil
	}
	log.Warn("release failed", "err", err, "duration", in.now().Sub(start).Round(time.Millisecond))
	s.MarkBad(rel.SHA256, rel.Version, err.Error(), in.now())
	if serr := in.Dir.Save(s); serr != nil {
		return Failed, errors.Join(fmt.Errorf("install %s: %w", rel.Version, err), serr)
	}
	return in.rollback(ctx, s, rel, err)
}

// rollback puts s.Installed back after rel failed with cause.
func (in *Installer) rollback(ctx context.Context, s *state.State, rel *state.Release, cause error) (Outcome, error) {
	cause = fmt.Errorf("install %s: %w", rel.Version, cause)
	prev := s.Installed
	if prev == nil || prev.Deb == "" {
		s.Installing = nil
		if err := in.Dir.Save(s); err != nil {
			return Failed, errors.Join(cause, err)
		}
		return Failed, fmt.Errorf("%w (no earlier release to roll back to)", cause)
	}
	log := in.logger().With("version", prev.Version, "sha256", prev.SHA256, "version_id", prev.VersionID)
	start := in.now()
	log.Info("rolling back", "from_version", rel.Version)
	err := in.Dpkg.Install(ctx, in.Dir.DebPath(prev.Deb))
	if err == nil {
		err = in.restart(ctx, prev, log)
	}
	if ctx.Err() != nil {
		return Failed, fmt.Errorf("%w; rollback to %s interrupted: %w", cause, prev.Version, ctx.Err())
	}
	s.Installing = nil
	if serr := in.Dir.Save(s); serr != nil {
		return Failed, errors.Join(cause, serr)
	}
	if err != nil {
		log.Error("rollback failed", "err", err)
		return Failed, fmt.Errorf("%w; rollback to %s failed: %w", cause, prev.Version, err)
	}
	if err := in.Dir.PruneDebs(s); err != nil {
		log.Warn("could not delete old packages", "err", err)
	}
	log.Info("rolled back", "from_version", rel.Version, "duration", in.now().Sub(start).Round(time.Millisecond))
	return RolledBack, cause
}

// dpkgHas reports whether dpkg shows rel's version fully installed.
func (in *Installer) dpkgHas(ctx context.Context, rel *state.Release) bool {
	st, err := in.Dpkg.Query(ctx, rel.Package)
	return err == nil && st.Installed() && st.Version == rel.Version
}

// restart restarts the service on rel and waits for its health. A service
// that is not running at all (a new server installing its first release
// before the service starts) is not restarted: its supervisor starts it.
func (in *Installer) restart(ctx context.Context, rel *state.Release, log *slog.Logger) error {
	if in.Service == nil {
		return nil
	}
	_, err := in.Service.Restart(ctx, rel.Version)
	if errors.Is(err, service.ErrNotRunning) {
		log.Info("service not running; installed without a restart", "err", err)
		return nil
	}
	return err
}

// Recover runs once at startup, before the first check. It finishes any
// interrupted dpkg run (dpkg --configure -a), loads the state and makes it
// agree with dpkg's database:
//   - an intent record (the agent died mid-install, mid-restart or
//     mid-rollback) is returned as the release to resume with Install,
//     which converges whatever step was reached (dpkg -i again unless dpkg
//     shows the release installed, then restart and health; a release
//     already marked bad is only rolled back);
//   - an intent record whose .deb is gone is dropped;
//   - an installed release dpkg does not show installed at that version (an
//     operator changed it by hand) is forgotten, so the next check installs
//     the channel's release again.
//
// In every case the saved ETag is dropped so the next check reads the
// release object in full.
func (in *Installer) Recover(ctx context.Context) (*state.State, *state.Release, error) {
	log := in.logger()
	if err := in.Dpkg.Configure(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		// A package whose postinst keeps failing: the resume below, or
		// the next install, replaces it.
		log.Warn("finishing an interrupted dpkg run failed", "err", err)
	}
	s, err := in.Dir.Load()
	if err != nil {
		return nil, nil, err
	}
	changed := false
	var resume *state.Release
	if r := s.Installing; r != nil {
		if _, err := os.Stat(in.Dir.DebPath(r.Deb)); r.Deb == "" || err != nil {
			log.Warn("dropping an interrupted install whose package is gone", "version", r.Version, "sha256", r.SHA256)
			s.Installing = nil
		} else {
			log.Info("resuming an interrupted install", "version", r.Version, "sha256", r.SHA256, "version_id", r.VersionID)
			resume = r
		}
		changed = true
	}
	if r := s.Installed; r != nil && resume == nil {
		st, err := in.Dpkg.Query(ctx, r.Package)
		if err != nil {
			return nil, nil, err
		}
		if !st.Installed() || st.Version != r.Version {
			log.Warn("dpkg disagrees with the recorded release; it will be installed again",
				"version", r.Version, "sha256", r.SHA256, "dpkg_version", st.Version, "dpkg_state", st.State)
			s.Installed = nil
			changed = true
		}
	}
	if s.ETag != "" {
		s.ETag = ""
		changed = true
	}
	if changed {
		if err := in.Dir.Save(s); err != nil {
			return nil, nil, err
		}
	}
	return s, resume, nil
}

func (in *Installer) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.Default()
	}
	return in.Logger
}

func (in *Installer) now() time.Time {
	if in.Now == nil {
		return time.Now()
	}
	return in.Now()
}
