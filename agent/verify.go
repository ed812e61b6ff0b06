package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// verifyManifest checks what can be checked before downloading.
func (a *Agent) verifyManifest(m *release.Manifest) error {
	if a.cfg.File != nil {
		if m.Kind != release.KindConfig {
			return fmt.Errorf("release is a %q, not a config (a package published on the config channel?)", cmp.Or(m.Kind, release.KindDeb))
		}
		if m.Package != a.cfg.Package {
			return fmt.Errorf("config is for service %q, this host runs %q", m.Package, a.cfg.Package)
		}
	} else if err := a.verifyDeb(m); err != nil {
		return err
	}
	if len(a.cfg.PublicKeys) == 0 {
		return nil
	}
	if err := m.VerifyFor(a.cfg.Channel, a.cfg.PublicKeys...); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if in := a.s.Installed; in != nil && m.PublishedAt.Before(in.PublishedAt) {
		return fmt.Errorf("release published %s, before the installed %s (%s): %w (a rollback that re-signs it gives it a fresh publication time)",
			m.PublishedAt.Format(time.RFC3339), in.Version, in.PublishedAt.Format(time.RFC3339), errReplay)
	}
	return nil
}

// verifyDeb checks a package release's manifest against this host.
func (a *Agent) verifyDeb(m *release.Manifest) error {
	if !m.IsDeb() {
		return fmt.Errorf("release is a %q, not a Debian package", m.Kind)
	}
	if m.Package != a.cfg.Package {
		return fmt.Errorf("release is package %q, this host runs %q", m.Package, a.cfg.Package)
	}
	if m.Architecture != a.cfg.Architecture && m.Architecture != "all" {
		return fmt.Errorf("release is built for %s, this host is %s", m.Architecture, a.cfg.Architecture)
	}
	return nil
}

// errReplay marks the refusal of an older signed release put back as
// current without re-signing.
var errReplay = errors.New("refusing a replay")

// refusalCode classifies a refusal for the status object (see
// fleet.HostStatus.Refusal).
func refusalCode(err error) string {
	switch {
	case errors.Is(err, errReplay):
		return fleet.RefusedReplay
	case errors.Is(err, release.ErrUnsigned), errors.Is(err, errPlainUnsigned):
		return fleet.RefusedUnsigned
	case errors.Is(err, release.ErrUnknownKey), errors.Is(err, release.ErrBadSignature), errors.Is(err, release.ErrWrongChannel):
		return fleet.RefusedUntrusted
	}
	return ""
}

// copyBackSlack is how far before S3 wrote a channel's previous version a
// signed release may have been published and still count as new: S3
// refuses requests signed more than 15 minutes off its clock, and a
// publish signs its manifest a moment before its conditional write.
const copyBackSlack = 20 * time.Minute

// checkNotCopiedBack refuses, in signed mode, a release published (by its
// signed time) well before S3 wrote the channel's previous version: an
// older signed release copied back into the channel, by a console
// restore, or by a bucket writer replaying it on a host that never ran
// anything newer (which the installed release cannot catch). A publish
// or a re-signing rollback signs a fresh time and passes. It costs one
// ListObjectVersions per release: the verdict is remembered for the
// version.
func (a *Agent) checkNotCopiedBack(ctx context.Context, obj *release.Object) error {
	if len(a.cfg.PublicKeys) == 0 {
		return nil
	}
	if v := a.copyBack; v != nil && v.versionID == obj.VersionID {
		return v.err
	}
	prev, err := a.cfg.Releases.WrittenBefore(ctx, a.cfg.Channel, obj.VersionID)
	if err != nil {
		return fmt.Errorf("check that the release is not an older one copied back: %w", err)
	}
	var verdict error
	m := obj.Manifest
	if prev != nil && m.PublishedAt.Before(prev.LastModified.Add(-copyBackSlack)) {
		verdict = &refusalError{fmt.Errorf("release %s was published %s, before the channel's previous version was written (%s): an older signed release copied back into the channel, %w (a rollback must re-sign it, which gives it a fresh publication time)",
			m.Version, m.PublishedAt.Format(time.RFC3339), prev.LastModified.UTC().Format(time.RFC3339), errReplay)}
	}
	a.copyBack = &copyBackVerdict{versionID: obj.VersionID, err: verdict}
	return verdict
}

// copyBackVerdict is checkNotCopiedBack's remembered verdict.
type copyBackVerdict struct {
	versionID string
	err       error
}

// refusalError marks a download whose content, not its transfer, is wrong.
type refusalError struct{ err error }

func (e *refusalError) Error() string { return e.err.Error() }

// download fetches obj's exact version into the state directory while
// hashing it, and checks it against the manifest and the package's own
// control fields. Nothing is left on disk when it fails.
func (a *Agent) download(ctx context.Context, obj *release.Object) (*state.Release, error) {
	dir := a.dir()
	m := obj.Manifest
	f, err := dir.CreateTemp()
	if err != nil {
		return nil, err
	}
	got, err := a.cfg.Releases.Fetch(ctx, a.cfg.Channel, obj.VersionID, f)
	if err == nil && (got.Manifest == nil || got.Manifest.SHA256 != m.SHA256) {
		err = &refusalError{fmt.Errorf("version %s changed its manifest between HEAD and GET", obj.VersionID)}
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if a.cfg.File != nil {
		// Fetch checked every byte against the manifest's size and
		// SHA-256; a config has no inner format to check.
		name, err := dir.Keep(f, m.SHA256, configExt)
		if err != nil {
			os.Remove(f.Name())
			return nil, err
		}
		return &state.Release{Package: m.Package, Version: m.Version, SHA256: m.SHA256, VersionID: obj.VersionID, ETag: obj.ETag,
			PublishedAt: m.PublishedAt, Deb: name}, nil
	}
	name, err := dir.KeepDeb(f, m.SHA256)
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	path := dir.DebPath(name)
	if err := checkDeb(path, m, a.cfg.Installer.Managed); err != nil {
		os.Remove(path)
		return nil, &refusalError{err}
	}
	return &state.Release{Package: m.Package, Version: m.Version, SHA256: m.SHA256, VersionID: obj.VersionID, ETag: obj.ETag,
		PublishedAt: m.PublishedAt, Deb: name}, nil
}

// checkDeb makes sure the .deb is what its manifest says (a signed
// manifest must not carry a different package), and that it does not
// overwrite a file a config channel manages (see Installer.Managed).
func checkDeb(path string, m *release.Manifest, managed []string) error {
	p, err := deb.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read package: %w", err)
	}
	c := p.Control
	if c.Package != m.Package || c.Version != m.Version || c.Architecture != m.Architecture {
		return fmt.Errorf("package is %s %s (%s), the manifest says %s %s (%s)",
			c.Package, c.Version, c.Architecture, m.Package, m.Version, m.Architecture)
	}
	if err := p.Verify(); err != nil {
		return fmt.Errorf("package md5sums: %w", err)
	}
	return checkManaged(p, managed)
}

// checkManaged refuses a package that ships a managed file other than as
// a conffile: dpkg would overwrite the config channel's file with its
// own.
func checkManaged(p *deb.Package, managed []string) error {
	for _, path := range managed {
		path = filepath.Clean("/" + path)
		if slices.Contains(p.Conffiles, path) {
			continue
		}
		for _, f := range p.Files {
			if filepath.Clean("/"+f.Path) == path {
				return fmt.Errorf("package ships %s, the file this host's config channel manages, and not as a conffile: dpkg would overwrite it (ship it as a conffile, or stop managing it)", path)
			}
		}
	}
	return nil
}
