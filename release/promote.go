package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"
)

// PromoteInput says which release to promote and how to check it.
type PromoteInput struct {
	// VersionID picks a version of the source channel; empty means its
	// current version.
	VersionID string
	// PublicKeys, when not empty, require the source to be signed by one
	// of them, for the source channel (ErrUnsigned, ErrUnknownKey,
	// ErrBadSignature, ErrWrongChannel otherwise).
	PublicKeys []PublicKey
	// Key re-signs the manifest for the destination channel with a fresh
	// publication time (a signature names its channel, so a signed
	// release cannot be promoted without it: ErrSignedChange). The source
	// must then be signed by one of PublicKeys, or by Key itself when
	// PublicKeys is empty.
	Key *SigningKey
	// Publisher, when set, replaces the manifest's publisher on re-signing.
	Publisher string
	// Now returns the current time for the fresh publication time; default
	// time.Now.
	Now func() time.Time
	// AllowUnversioned promotes into a bucket without versioning.
	AllowUnversioned bool
	// Force copies even when the destination already holds these bytes.
	Force bool
	// Encryption, when not zero, is how the destination's copy is
	// encrypted (another KMS key for another bucket); the zero value
	// keeps the source's (Object.Encryption).
	Encryption Encryption
	// Edit, when set, changes the promoted manifest before it is
	// written (and re-signed): m is a copy of the source's manifest,
	// Extra included, to change in place (the fleet package sets the
	// maintenance windows this way).
	Edit func(m *Manifest) error
}

// PromoteResult is the outcome of a Promote.
type PromoteResult struct {
	// Source is the promoted version of the source channel.
	Source *Object
	// VersionID is the destination's new current version, or, when
	// Skipped, its current version that already has these bytes.
	VersionID string
	Skipped   bool
	// SignatureChecked reports whether a signature was verified.
	SignatureChecked bool
}

// Promote copies the exact bytes and manifest of one channel's release to
// another channel (same or another bucket behind the same endpoint).
//
// Before copying it downloads the source version (streamed, not stored)
// and checks its size and SHA-256 against its manifest, and its signature
// when PublicKeys are given. The copy is server-side and pinned to that
// VersionId and ETag, so the destination gets the bytes that were
// checked, with the same manifest and signature. An empty source channel
// gives ErrNotFound; the destination bucket must keep versions unless
// AllowUnversioned.
func (c *Client) Promote(ctx context.Context, src, dst Address, in PromoteInput) (*PromoteResult, error) {
	obj, err := c.Head(ctx, src, in.VersionID)
	if err != nil {
		if errors.Is(err, ErrNotFound) && in.VersionID == "" {
			return nil, &Error{Op: "promote", Target: src.String(), Kind: ErrNotFound,
				Detail: "the source channel has no current release (nothing was ever published there, or it was deleted)", Err: err}
		}
		return nil, err
	}
	if obj.Manifest == nil {
		return nil, &Error{Op: "promote", Target: target(src, obj.VersionID), Kind: ErrNoManifest,
			Detail: fmt.Sprintf("not published by pkgdeb: %v", obj.ManifestErr), Err: obj.ManifestErr}
	}
	if err := in.Encryption.Validate(); err != nil {
		return nil, &Error{Op: "promote", Target: dst.String(), Detail: err.Error(), Err: err}
	}
	res := &PromoteResult{Source: obj}
	keys := in.PublicKeys
	if len(keys) == 0 && in.Key != nil {
		keys = []PublicKey{in.Key.Public()}
	}
	if len(keys) > 0 {
		if err := obj.Manifest.VerifyFor(src, keys...); err != nil {
			return nil, &Error{Op: "promote", Target: target(src, obj.VersionID), Detail: err.Error(), Err: err}
		}
		res.SignatureChecked = true
	}
	m, err := promotedManifest(obj.Manifest, dst, in)
	if err != nil {
		return nil, &Error{Op: "promote", Target: target(src, obj.VersionID), Detail: err.Error(), Err: err}
	}
	if _, err := c.Fetch(ctx, src, obj.VersionID, io.Discard); err != nil {
		return nil, err
	}
	if !in.AllowUnversioned {
		if err := c.requireVersioning(ctx, "promote", dst); err != nil {
			return nil, err
		}
	}
	cur, err := c.Head(ctx, dst, "")
	switch {
	case errors.Is(err, ErrNotFound):
		cur = nil
	case err != nil:
		return nil, err
	}
	if cur != nil && cur.Manifest != nil && cur.Manifest.SHA256 == m.SHA256 && cur.Manifest.Channel == m.Channel && !in.Force {
		res.VersionID, res.Skipped = cur.VersionID, true
		return res, nil
	}
	var curV *Version
	if cur != nil {
		curV = &Version{VersionID: cur.VersionID, ETag: cur.ETag}
	}
	srcV := Version{VersionID: obj.VersionID, ETag: obj.ETag}
	enc := obj.Encryption
	if !in.Encryption.IsZero() {
		enc = in.Encryption
	}
	vid, err := c.copyVersion(ctx, "promote", src, srcV, dst, curV, m, m != obj.Manifest, enc)
	if err != nil {
		return nil, err
	}
	res.VersionID = vid
	c.log.Info("promoted", "from", target(src, obj.VersionID), "to", dst.String(), "version_id", vid,
		"version", m.Version, "sha256", m.SHA256, "resigned", m != obj.Manifest)
	return res, nil
}

// promotedManifest is the manifest the destination gets: src's own (as
// in.Edit changes it) when it is unsigned and in has no key, else src's
// re-signed for dst with a fresh publication time.
func promotedManifest(src *Manifest, dst Address, in PromoteInput) (*Manifest, error) {
	m := *src
	m.Extra = maps.Clone(src.Extra)
	if in.Edit != nil {
		if err := in.Edit(&m); err != nil {
			return nil, err
		}
	}
	if in.Key == nil {
		if src.Signed() {
			return nil, fmt.Errorf("%w: %s %s is signed for its own channel; promoting it re-signs it for %s, which needs a key", ErrSignedChange, src.Package, src.Version, dst)
		}
		if bytes.Equal(m.Canonical(), src.Canonical()) {
			return src, nil
		}
		return &m, nil
	}
	if !src.Signed() {
		return nil, fmt.Errorf("%w: %s %s; publish it signed rather than signing it on promotion", ErrUnsigned, src.Package, src.Version)
	}
	in.Key.Resign(&m, dst, in.Publisher, in.Now)
	return &m, nil
}
