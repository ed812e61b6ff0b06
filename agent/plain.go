package agent

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/release"
)

// errPlainUnsigned refuses a plain upload in signed mode.
var errPlainUnsigned = errors.New("not a signed release: the version has no manifest (a plain upload by an S3 client?), and this host installs only releases signed for its channel")

// considerPlain handles, in unsigned mode, a version without a manifest:
// a plain .deb uploaded by any S3 client. Its identity is its VersionId,
// then the SHA-256 computed while downloading it; its package name,
// version and architecture come from the .deb itself. Without a manifest
// there is no rollout policy: every host takes it at its next check.
func (a *Agent) considerPlain(ctx context.Context, obj *release.Object) (Outcome, error) {
	log := a.log.With("version_id", obj.VersionID)
	if obj.VersionID == "" {
		return a.refuse(ctx, obj, errors.New("the channel has no VersionId (bucket versioning is off), so a download cannot be pinned"))
	}
	if in := a.s.Installed; in != nil && in.VersionID == obj.VersionID {
		log.Debug("channel changed, release already installed")
		a.unhold(ctx)
		return "", nil
	}
	if a.serviceHolds(ctx, &state.Release{VersionID: obj.VersionID}) {
		return deferred, nil
	}
	rel, err := a.downloadPlain(ctx, obj)
	if err != nil {
		a.reportNoRoom(ctx, obj, err)
		return a.refuseOr(ctx, obj, err)
	}
	log = log.With("version", rel.Version, "sha256", rel.SHA256)
	if in := a.s.Installed; in != nil && in.SHA256 == rel.SHA256 {
		// A copy of the installed bytes, e.g. a restore of its version:
		// this host runs the channel's current version already.
		log.Info("plain upload has the installed release's bytes; nothing to install")
		in.VersionID, in.ETag = obj.VersionID, obj.ETag
		a.setStatus(string(OK), nil, "")
		a.report(ctx)
		return "", nil
	}
	if bad, ok := a.s.Bad[rel.SHA256]; ok {
		log.Info("release failed on this host before; not retrying", "reason", bad.Reason)
		if err := a.cfg.Installer.Dir.PruneDebs(a.s); err != nil {
			log.Warn("could not delete the downloaded package", "err", err)
		}
		return "", nil
	}
	log.Info("new plain release")
	return a.install(ctx, rel)
}

// downloadPlain fetches obj's exact version into the state directory
// while hashing it and checking it against S3's checksum and ETag (see
// Releases.FetchPlain), and checks the package's own control fields
// against this host. Nothing is left on disk when it fails.
func (a *Agent) downloadPlain(ctx context.Context, obj *release.Object) (*state.Release, error) {
	dir := a.cfg.Installer.Dir
	f, err := dir.CreateTemp()
	if err != nil {
		return nil, err
	}
	got, err := a.cfg.Releases.FetchPlain(ctx, a.cfg.Channel, obj.VersionID, obj.Size, f)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if len(got.Integrity) == 0 {
		a.log.Warn("nothing but TLS vouched for a plain upload's bytes (no S3 checksum, and an ETag that is not an MD5)", "version_id", obj.VersionID)
	}
	name, err := dir.KeepDeb(f, got.SHA256)
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	path := dir.DebPath(name)
	c, err := a.checkPlainDeb(path)
	if err != nil {
		if !a.keeps(name) {
			os.Remove(path)
		}
		return nil, &refusalError{err}
	}
	return &state.Release{Package: c.Package, Version: c.Version, SHA256: got.SHA256, VersionID: obj.VersionID, ETag: obj.ETag, Deb: name}, nil
}

// keeps reports whether the state refers to the kept .deb name.
func (a *Agent) keeps(name string) bool {
	for _, r := range []*state.Release{a.s.Installed, a.s.Previous, a.s.Installing} {
		if r != nil && r.Deb == name {
			return true
		}
	}
	return false
}

// checkPlainDeb reads the control fields of a plain upload and checks
// them against this host: nothing else says what the package is.
func (a *Agent) checkPlainDeb(path string) (*deb.Control, error) {
	p, err := deb.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plain upload: read package: %w", err)
	}
	c := p.Control
	switch {
	case c.Package != a.cfg.Package:
		return nil, fmt.Errorf("plain upload is package %q, this host runs %q", c.Package, a.cfg.Package)
	case c.Architecture != a.cfg.Architecture && c.Architecture != "all":
		return nil, fmt.Errorf("plain upload %s is built for %s, this host is %s", c.Version, c.Architecture, a.cfg.Architecture)
	}
	if err := p.Verify(); err != nil {
		return nil, fmt.Errorf("plain upload: package md5sums: %w", err)
	}
	if err := checkManaged(p, a.cfg.Installer.Managed); err != nil {
		return nil, fmt.Errorf("plain upload %s: %w", c.Version, err)
	}
	return &c, nil
}
