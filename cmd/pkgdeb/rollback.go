package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const rollbackHelp = `Usage: pkgdeb rollback [flags] s3://BUCKET/KEY --to previous|VERSIONID|PACKAGE_VERSION

Make an earlier version of a release channel current again, for the whole
fleet: the old version is copied over the key on the server (pinned to its
VersionId), which creates a new current version with the old bytes. Agents
see the change and install it.

--to previous picks the newest earlier version whose bytes differ from the
current one; a VersionId picks that version; a package version (1.2.3)
picks the newest version carrying it. See them with pkgdeb history.

The restored version keeps its manifest and signature, including its old
publish time (its rollout policy aside, see below). Agents that refuse to
go back in time reject that; with --sign-key the manifest is re-signed
with a fresh publish time instead.

Re-signing vouches for the target, and anyone who can write to the bucket
can plant a version with a manifest that looks right. So --sign-key first
checks the target, on a dry run too: it must be signed by a trusted key
(--sign-key's own public half, and each --public-key), and its size and
SHA-256 must match its manifest (it is downloaded once, not stored). With
--sign-key, --to previous and a package version pass over versions that
no trusted key signed. An unsigned target (from before releases were
signed) is refused unless --allow-unsigned-target and --to names it (not
previous); check it with pkgdeb history first.

Without --sign-key the target is copied as it is, unchecked: agents check
its signature. The output shows who signed it, verified against
--public-key when given.

A rollback restores a release known to be good, so it goes to the whole
fleet at once (rollout 100%, no cap, no automatic halt), whatever rollout
policy the release was first published with (its gate included); give
--rollout (with --wave-interval, --max-updating, --halt-after, --gate-url,
--gate-alarm, as for publish) to stage it again, from the moment of the
rollback. The policy is part of the signed
manifest: to change the policy of a signed release, give --sign-key; without
it, a signed release published with another policy is refused unless
--keep-rollout restores it as signed, policy included (its waves count from
its first publish time, so they are usually over; its caps still apply).

Maintenance windows do not hold a rollback: by default its policy has
none, whatever windows the release was published with (it is the fix,
needed now). --respect-window holds it to the windows the restored
release was published with, or to those given with --window (which hold
it by themselves too). --keep-rollout restores the release's whole
policy, its windows included.

With --wait, the rollback then follows the restored release until every
live host runs it, as pkgdeb wait does (exit 0; 1 when a host fails it, it
is halted or superseded; 3 on --timeout); --notify posts each step to a
webhook. Hosts that rolled back by themselves to the restored release
already run it.

Examples:
  pkgdeb rollback s3://acme-releases/hello/production.deb --to previous --dry-run
  pkgdeb rollback s3://acme-releases/hello/production.deb --to 1.2.2 --sign-key ci.key
  pkgdeb rollback s3://acme-releases/hello/production.deb --to 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY \
      --sign-key ci.key --allow-unsigned-target
  pkgdeb rollback s3://acme-releases/hello/production.deb --to 1.2.2 --sign-key ci.key \
      --rollout 50%,100% --wave-interval 2m
  pkgdeb rollback s3://acme-releases/hello/production.deb --to 1.2.2 --sign-key ci.key --respect-window
  pkgdeb rollback s3://acme-releases/hello/production.deb --to previous --sign-key ci.key \
      --wait --timeout 5m --notify "$SLACK_WEBHOOK_URL"

Flags:
`

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb rollback", rollbackHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	to := fs.String("to", "", "`target`: previous, a VersionId, or a package version (required)")
	dryRun := fs.Bool("dry-run", false, "show what would be restored without changing anything")
	signKey := fs.String("sign-key", "", "re-sign the restored manifest with a fresh publish time using this private key `file`")
	who := fs.String("publisher", "", "who rolls back, recorded when re-signing (default: user@host)")
	var pubKeys cli.Strings
	fs.Var(&pubKeys, "public-key", "trust releases signed by this public key `file` too (repeatable); without --sign-key it is only shown whether the target verifies")
	allowUnsigned := fs.Bool("allow-unsigned-target", false, "let --sign-key re-sign a target that carries no signature (its bytes are still checked)")
	var rf rolloutFlags
	rf.register(fs)
	keep := fs.Bool("keep-rollout", false, "restore the release with the rollout policy it was published with (the only way to restore a signed staged release without --sign-key)")
	respect := fs.Bool("respect-window", false, "hold the rollback to maintenance windows: those given with --window, else those the restored release was published with")
	var wf waitFlags
	wf.register(fs, true)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wf.check(fs, true, conn.insecureEndpoint); err != nil {
		return err
	}
	if wf.wait && *dryRun {
		return cli.Usagef("--wait follows what the rollback writes: a --dry-run writes nothing")
	}
	a, err := oneChannel(pos)
	if err != nil {
		return err
	}
	if *to == "" {
		return cli.Usagef("--to is required: previous, a VersionId or a package version")
	}
	in := release.RollbackInput{To: *to, DryRun: *dryRun, Publisher: *who}
	rp, err := rollbackPolicy(fs, &rf, *keep, *respect)
	if err != nil {
		return err
	}
	if err := rollbackTrust(&in, *signKey, pubKeys, *allowUnsigned); err != nil {
		return err
	}
	rp.Resign = in.Key != nil
	in.Edit = rp.Edit
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	res, err := c.Rollback(ctx, a, in)
	if errors.Is(err, fleet.ErrNoWindow) {
		return fmt.Errorf("%w\n(name the windows with --window 'DAYS HH:MM-HH:MM ZONE', or roll back to a version published with them: see pkgdeb history)", err)
	}
	if errors.Is(err, fleet.ErrSignedPolicy) {
		return fmt.Errorf("%w\n(pass --sign-key KEY to re-sign it with the new policy, or --keep-rollout to restore it as signed)", err)
	}
	if err != nil {
		return err
	}
	printRollback(stdout, a, res, *dryRun)
	if !wf.wait {
		return nil
	}
	target := fleet.Target{VersionID: cmp.Or(res.VersionID, res.Target.VersionID), SHA256: res.Manifest.SHA256}
	w := waiter{c: c, flags: &wf, insecure: conn.insecureEndpoint, stdout: stdout, stderr: stderr}
	return w.follow(ctx, []waitFor{{a, target}})
}

// rollbackPolicy is the rollout policy the rollback goes out with, from
// the flags --rollout, --wave-interval, --max-updating, --halt-after,
// --window, --gate-url, --gate-alarm and --keep-rollout.
func rollbackPolicy(fs *flag.FlagSet, rf *rolloutFlags, keep, respect bool) (fleet.RollbackPolicy, error) {
	rp := fleet.RollbackPolicy{Keep: keep, RespectWindow: respect}
	staged := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rollout", "wave-interval", "max-updating", "halt-after", "window", "gate-url", "gate-alarm":
			staged = true
		}
	})
	if keep && respect {
		return rp, cli.Usagef("--keep-rollout keeps the release's own policy, its maintenance windows included: drop --respect-window")
	}
	if !staged {
		return rp, nil
	}
	if keep {
		return rp, cli.Usagef("--keep-rollout keeps the release's own policy: drop --rollout, --wave-interval, --max-updating, --halt-after, --window and the gate flags")
	}
	p, err := rf.policy()
	if err != nil {
		return rp, err
	}
	rp.Rollout = &p
	return rp, nil
}

// rollbackTrust sets in's signing key and the keys its target must be
// signed by, from the flags --sign-key, --public-key and
// --allow-unsigned-target.
func rollbackTrust(in *release.RollbackInput, signKey string, pubKeys []string, allowUnsigned bool) error {
	if allowUnsigned && signKey == "" {
		return cli.Usagef("--allow-unsigned-target only matters with --sign-key: without it the target is copied as it is")
	}
	if allowUnsigned && in.To == release.ToPrevious {
		return cli.Usagef("--to previous only picks a version signed by a trusted key: name the unsigned target by its VersionId (see pkgdeb history)")
	}
	in.AllowUnsigned = allowUnsigned
	var err error
	if in.PublicKeys, err = loadPublicKeys(pubKeys); err != nil {
		return err
	}
	if signKey == "" {
		return nil
	}
	if in.Key, err = release.LoadSigningKey(signKey); err != nil {
		return err
	}
	if in.Publisher == "" {
		in.Publisher = publisher()
	}
	return nil
}

// loadPublicKeys reads the public key files given with --public-key.
func loadPublicKeys(paths []string) ([]release.PublicKey, error) {
	var keys []release.PublicKey
	for _, p := range paths {
		k, err := release.LoadPublicKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// printRollback says what a rollback of channel a restored (or, for a
// dry run, would restore) and the rollout policy it goes out with.
func printRollback(stdout io.Writer, a release.Address, res *release.RollbackResult, dryRun bool) {
	t, m := res.Target, res.Manifest
	what := fmt.Sprintf("%s (VersionId %s, sha256 %s, published %s)", kindNote(m), t.VersionID, m.ShortSHA(), t.Manifest.PublishedAt.Format("2006-01-02T15:04:05Z"))
	cur := "nothing"
	if res.Previous != nil && res.Previous.Manifest != nil {
		cur = fmt.Sprintf("%s (VersionId %s)", res.Previous.Manifest.Version, res.Previous.VersionID)
	}
	switch {
	case res.AlreadyCurrent:
		fmt.Fprintf(stdout, "%s: %s is already current; nothing to do\n", a, what)
	case dryRun:
		fmt.Fprintf(stdout, "%s: would restore %s over the current %s (%s); dry run, nothing changed\n", a, what, cur, signedNote(m))
	default:
		fmt.Fprintf(stdout, "%s: restored %s over %s (%s); new current VersionId %s\n", a, what, cur, signedNote(m), res.VersionID)
	}
	fmt.Fprintf(stdout, "%s: target VersionId %s: %s\n", a, t.VersionID, trustNote(res))
	if !res.AlreadyCurrent {
		if p, err := fleet.PolicyOf(m); err == nil {
			fmt.Fprintf(stdout, "%s: %s\n", a, policyNote(p, m.PublishedAt))
		}
	}
}

// trustNote says who signed a rollback's target, whether that verified
// under the trusted keys, and whether its bytes were checked.
func trustNote(res *release.RollbackResult) string {
	m := res.Target.Manifest
	s := "signed by key " + m.KeyID
	switch {
	case !m.Signed():
		s = "unsigned"
	case !res.TrustChecked:
		s += ", not checked (no --public-key or --sign-key)"
	case res.Trust == nil:
		s += ", verified"
	case errors.Is(res.Trust, release.ErrUnknownKey):
		s += ", not a trusted key"
	default:
		s += ", " + res.Trust.Error()
	}
	if res.BytesChecked {
		s += "; its size and sha256 match its manifest"
	}
	return s
}
