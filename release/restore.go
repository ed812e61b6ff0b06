package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ToPrevious is the Rollback target meaning "the newest earlier version
// whose bytes differ from the current one" (and, when the rollback
// re-signs, that a trusted key signed).
const ToPrevious = "previous"

// RollbackInput says which version to make current again.
type RollbackInput struct {
	// To is ToPrevious, a VersionId, or a package version (the newest
	// version with that manifest version; with Key, the newest of those
	// a trusted key signed, if any). A VersionId match wins.
	To string
	// DryRun resolves the target and reports it without copying.
	DryRun bool
	// Key, when set, re-signs the restored manifest with a fresh
	// PublishedAt and Publisher, so agents that refuse a release older
	// than the one they run accept it. Without it the old manifest is
	// copied unchanged.
	Key *SigningKey
	// Publisher goes into a re-signed manifest (user@host).
	Publisher string
	// Now stamps a re-signed manifest; nil means time.Now.
	Now func() time.Time
	// Edit, when set, changes the restored manifest before it is written:
	// m is a copy of the target's manifest, Extra included, to change in
	// place (the fleet package sets the rollout policy this way). A
	// signed manifest that changes needs Key, else ErrSignedChange.
	Edit func(m *Manifest) error
	// PublicKeys are trusted besides Key's own public half: with Key, the
	// target must be signed by one of these or by Key itself before it is
	// re-signed (ErrUntrustedTarget otherwise), and ToPrevious passes over
	// versions that are not. Without Key they are only checked, for
	// RollbackResult.Trust.
	PublicKeys []PublicKey
	// AllowUnsigned lets Key re-sign a target that carries no signature
	// at all (its bytes are still checked against its manifest).
	// ToPrevious never picks one; a target signed by an unknown key, or
	// with a bad signature, is refused all the same.
	AllowUnsigned bool
}

// ErrSignedChange is the error kind of a rollback that would change the
// manifest of a signed release without a key to re-sign it.
var ErrSignedChange = errors.New("the manifest of a signed release cannot change without re-signing it")

// ErrUntrustedTarget is the error kind of a rollback that would re-sign a
// version no trusted key signed: a bucket writer can plant any bytes with
// a manifest that describes them, and re-signing would vouch for them. It
// comes with ErrUnsigned, ErrUnknownKey or ErrBadSignature saying why.
var ErrUntrustedTarget = errors.New("the rollback target is not signed by a trusted key")

// RollbackResult is the outcome of a Rollback.
type RollbackResult struct {
	// Target is the version that was (or, for a dry run, would be) copied.
	Target Version
	// Previous is the version that was current before, nil if none.
	Previous *Version
	// VersionID is the new current version; empty for a dry run or when
	// Target already was current.
	VersionID string
	// AlreadyCurrent: Target is the current version; nothing was done.
	AlreadyCurrent bool
	// Manifest is the manifest the new version carries.
	Manifest *Manifest
	// TrustChecked reports that Target's signature was checked against
	// the trusted keys (RollbackInput.PublicKeys and Key's public half;
	// false when there were none). Trust is that check's outcome: nil
	// when it verifies, else an error matching ErrUnsigned, ErrUnknownKey
	// or ErrBadSignature.
	TrustChecked bool
	Trust        error
	// BytesChecked reports that Target was downloaded and its size and
	// SHA-256 matched its manifest (always before Key re-signs it).
	BytesChecked bool
}

// Rollback makes an earlier version of channel a current again by a
// server-side copy of that exact version (pinned by VersionId and ETag)
// over the key: a new VersionId with the old bytes and, unless re-signed,
// the old manifest. History is not rewritten; the rollback is itself a
// new version. A target that does not exist gives ErrNotFound; a channel
// changed since the history was read gives ErrPreconditionFailed.
//
// Re-signing (in.Key) vouches for the target, so first, dry run or not,
// the target must be signed by a trusted key (ErrUntrustedTarget; see
// RollbackInput.PublicKeys and AllowUnsigned) and its bytes, downloaded
// and hashed, must match its manifest (ErrChecksumMismatch). Without a key
// nothing new is vouched for and the target is copied as it is.
func (c *Client) Rollback(ctx context.Context, a Address, in RollbackInput) (*RollbackResult, error) {
	hist, err := c.History(ctx, a, 0)
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{}
	for i := range hist {
		if hist[i].Current && !hist[i].DeleteMarker {
			res.Previous = &hist[i]
		}
	}
	keys := in.trustedKeys()
	tv, err := resolveTarget(hist, in.To, in.resignable(a, keys))
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Op, e.Target = "rollback", a.String()
		return nil, e
	}
	if err != nil {
		return nil, &Error{Op: "rollback", Target: a.String(), Kind: ErrNotFound, Detail: err.Error(), Err: err}
	}
	res.Target = *tv
	if tv.Manifest == nil {
		return nil, &Error{Op: "rollback", Target: target(a, tv.VersionID), Kind: ErrNoManifest,
			Detail: fmt.Sprintf("version %s was not published by pkgdeb: %v", tv.VersionID, tv.ManifestErr)}
	}
	res.Manifest = tv.Manifest
	if len(keys) > 0 {
		res.TrustChecked, res.Trust = true, tv.Manifest.VerifyInHistory(a, keys...)
	}
	if tv.Current {
		res.AlreadyCurrent = true
		return res, nil
	}
	if in.Key != nil {
		if err := c.vetTarget(ctx, a, res, in, keys); err != nil {
			return nil, err
		}
	}
	m, replace, err := rollbackManifest(tv.Manifest, a, in)
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Op, e.Target = "rollback", target(a, tv.VersionID)
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("rollback %s: %w", target(a, tv.VersionID), err)
	}
	res.Manifest = m
	if in.DryRun {
		return res, nil
	}
	vid, err := c.copyVersion(ctx, "rollback", a, *tv, a, res.Previous, res.Manifest, replace, tv.Encryption)
	if err != nil {
		return nil, err
	}
	res.VersionID = vid
	c.log.Info("rolled back", "channel", a.String(), "from_version_id", tv.VersionID, "version_id", vid,
		"version", res.Manifest.Version, "sha256", res.Manifest.SHA256, "resigned", in.Key != nil,
		"target_key_id", tv.Manifest.KeyID)
	return res, nil
}

// trustedKeys are the keys a target must be signed by to be re-signed:
// in.PublicKeys, and in.Key's own public half, since whoever holds Key
// could sign anything anyway.
func (in RollbackInput) trustedKeys() []PublicKey {
	keys := slices.Clone(in.PublicKeys)
	if in.Key != nil {
		keys = append(keys, in.Key.Public())
	}
	return keys
}

// resignable is the filter resolveTarget applies when in re-signs: a
// version whose manifest verifies under keys. Without a key every
// version qualifies (nil).
func (in RollbackInput) resignable(a Address, keys []PublicKey) func(*Version) bool {
	if in.Key == nil {
		return nil
	}
	return func(v *Version) bool { return v.Manifest != nil && v.Manifest.VerifyInHistory(a, keys...) == nil }
}

// vetTarget checks, before in.Key re-signs res.Target, that it is signed
// by one of keys (or unsigned, if in allows that) and that its bytes
// match its manifest: one download of the pinned version, bounded by the
// manifest's size and not stored.
func (c *Client) vetTarget(ctx context.Context, a Address, res *RollbackResult, in RollbackInput, keys []PublicKey) error {
	tv := res.Target
	if res.Trust != nil && !(in.AllowUnsigned && errors.Is(res.Trust, ErrUnsigned)) {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		return &Error{Op: "rollback", Target: target(a, tv.VersionID), Kind: ErrUntrustedTarget, Err: res.Trust,
			Detail: fmt.Sprintf("%s %s: %v (trusted keys: %s); re-signing it would vouch for bytes no trusted key signed",
				tv.Manifest.Package, tv.Manifest.Version, res.Trust, strings.Join(ids, ", "))}
	}
	if _, err := c.Fetch(ctx, a, tv.VersionID, io.Discard); err != nil {
		return fmt.Errorf("rollback: check the target's bytes against its manifest before re-signing: %w", err)
	}
	res.BytesChecked = true
	return nil
}

// rollbackManifest is the manifest a rollback restores old with, and
// whether it differs from old (the copy then replaces the metadata): old
// as in.Edit changes it, re-signed with a fresh PublishedAt when in has a
// key (for channel ch).
func rollbackManifest(old *Manifest, ch Address, in RollbackInput) (*Manifest, bool, error) {
	m := *old
	m.Extra = maps.Clone(old.Extra)
	if in.Edit != nil {
		if err := in.Edit(&m); err != nil {
			return nil, false, err
		}
	}
	if in.Key != nil {
		in.Key.Resign(&m, ch, in.Publisher, in.Now)
		return &m, true, nil
	}
	if bytes.Equal(m.Canonical(), old.Canonical()) {
		return old, false, nil
	}
	if old.Signed() {
		return nil, false, &Error{Kind: ErrSignedChange, Detail: fmt.Sprintf("%s %s is signed, and the rollback would change its manifest; that needs re-signing (a key)", old.Package, old.Version)}
	}
	return &m, true, nil
}

// resolveTarget finds the version "to" names in a newest-first history.
// With ok set (a re-signing rollback), ToPrevious only picks a version ok
// accepts, and a package version the newest ok one carrying it, else its
// newest (for the caller to refuse with the reason); a VersionId is taken
// as named.
func resolveTarget(hist []Version, to string, ok func(*Version) bool) (*Version, error) {
	if to == "" {
		return nil, fmt.Errorf("no target version given")
	}
	if to == ToPrevious {
		return previousVersion(hist, ok)
	}
	for i := range hist {
		if hist[i].VersionID == to && !hist[i].DeleteMarker {
			return &hist[i], nil
		}
	}
	var newest *Version
	for i := range hist {
		if m := hist[i].Manifest; m != nil && m.Version == to {
			if ok == nil || ok(&hist[i]) {
				return &hist[i], nil
			}
			if newest == nil {
				newest = &hist[i]
			}
		}
	}
	if newest != nil {
		return newest, nil
	}
	return nil, fmt.Errorf("%q is neither a VersionId nor a package version in this channel's history (%d versions)", to, len(hist))
}

// previousVersion is ToPrevious: the newest earlier version whose bytes
// differ from the current one and, with ok set, that ok accepts. Passing
// over the others is what keeps a version planted between two releases
// from being picked and re-signed.
func previousVersion(hist []Version, ok func(*Version) bool) (*Version, error) {
	var cur *Version
	for i := range hist {
		if hist[i].Current {
			cur = &hist[i]
			break
		}
	}
	skipped := 0
	for i := range hist {
		v := &hist[i]
		if v.DeleteMarker || v.Current || v.Manifest == nil {
			continue
		}
		if cur != nil && cur.Manifest != nil && cur.Manifest.SHA256 == v.Manifest.SHA256 {
			continue
		}
		if ok != nil && !ok(v) {
			skipped++
			continue
		}
		return v, nil
	}
	if skipped > 0 {
		return nil, &Error{Kind: ErrUntrustedTarget, Detail: fmt.Sprintf(
			"none of the %d earlier versions whose bytes differ from the current one's (%d versions in history); name one explicitly", skipped, len(hist))}
	}
	return nil, fmt.Errorf("no earlier version with different bytes than the current one (%d versions in history)", len(hist))
}

// copyVersion copies src (a version of srcAddr) over dst server-side,
// encrypted as enc says (S3 does not carry SSE-KMS over to a copy by
// itself). With replace, the object gets manifest m instead of the
// source's metadata. The copy is conditional on src's ETag, and on dst's
// current version being cur (or absent when cur is nil).
func (c *Client) copyVersion(ctx context.Context, op string, srcAddr Address, src Version, dst Address, cur *Version, m *Manifest, replace bool, enc Encryption) (string, error) {
	in := &s3.CopyObjectInput{
		Bucket:            &dst.Bucket,
		Key:               &dst.Key,
		CopySource:        aws.String(srcAddr.copySource(src.VersionID)),
		CopySourceIfMatch: aws.String(src.ETag),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		MetadataDirective: s3types.MetadataDirectiveCopy,
	}
	if replace {
		in.MetadataDirective = s3types.MetadataDirectiveReplace
		in.Metadata = m.Metadata()
		in.ContentType = aws.String(contentType(m))
	}
	enc.applyToCopy(in)
	if cur != nil && cur.ETag != "" {
		in.IfMatch = aws.String(cur.ETag)
	}
	out, err := c.s3.CopyObject(ctx, in)
	if err != nil {
		return "", c.opError(op, dst.String(), err)
	}
	return aws.ToString(out.VersionId), nil
}
