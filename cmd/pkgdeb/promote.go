package main

import (
	"context"
	"fmt"
	"io"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const promoteHelp = `Usage: pkgdeb promote [flags] s3://BUCKET/SOURCE s3://BUCKET/DESTINATION

Copy the exact bytes of one channel's release (its current version, or
--version-id) to another channel, in the same or another bucket behind the
same endpoint. The source is downloaded and checked first: size and
SHA-256 against its manifest, and its signature, for the source channel,
by one of the --public-key keys (by the --sign-key itself when none is
given). The copy is done by the server, pinned to the checked version.

A signature names the channel it was made for, so that a signed staging
build copied into production by hand is refused there: a signed release
is promoted with --sign-key, which re-signs it for the destination with a
fresh publication time. An unsigned release is copied as it is. The
destination bucket must keep versions unless --allow-unversioned; a
destination that already has these bytes, signed for it, is left alone
unless --force.

The copy is encrypted as the source is (S3 would otherwise give it the
destination bucket's default encryption, not the source's KMS key);
--sse and --kms-key-id encrypt it another way (see docs/iam.md).

The promoted release keeps the source's rollout policy, maintenance
windows included; --window gives it other windows (staging at any time,
production inside its window), --no-window none. The policy is signed, so
that needs --sign-key for a signed release, as every signed promotion does.

With --wait, promote then follows the rollout on the destination until
every live host runs the release, as pkgdeb wait does (exit 0; 1 when a
host fails it, it is halted or superseded; 3 on --timeout); --notify posts
each step to a webhook.

Examples:
  pkgdeb promote --sign-key ci.key s3://acme-releases/hello/staging.deb s3://acme-releases/hello/production.deb
  pkgdeb promote --sign-key ci.key --public-key old-ci.pub --public-key ci.pub \
      --version-id 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY \
      s3://acme-releases/hello/staging.deb s3://acme-releases/hello/production.deb
  pkgdeb promote --sign-key ci.key --window 'Mon-Fri 09:00-17:00 Europe/London' \
      s3://acme-releases/hello/staging.deb s3://acme-releases/hello/production.deb
  pkgdeb promote --sign-key ci.key --sse aws:kms \
      --kms-key-id arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
      s3://acme-releases/hello/staging.env s3://acme-production/hello/production.env
  pkgdeb promote --sign-key ci.key --wait --timeout 20m \
      s3://acme-releases/hello/staging.deb s3://acme-releases/hello/production.deb

Flags:
`

func runPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb promote", promoteHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	versionID := fs.String("version-id", "", "promote this `VersionId` of the source instead of its current version")
	var pubKeys cli.Strings
	fs.Var(&pubKeys, "public-key", "require a signature by this public key `file` (repeatable: any one of them; default the --sign-key's own)")
	signKey := fs.String("sign-key", "", "re-sign the release for the destination with this private key `file` (needed for a signed release)")
	allowUnversioned := fs.Bool("allow-unversioned", false, "promote into a bucket without versioning")
	force := fs.Bool("force", false, "copy even when the destination already has these bytes")
	var windows cli.Strings
	fs.Var(&windows, "window", "give the promoted release this maintenance `window` instead of the source's, e.g. 'Mon-Fri 09:00-17:00 Europe/London' (repeatable; see pkgdeb publish --help)")
	sse := fs.String("sse", "", "encrypt the destination's copy this way instead of as the source is: aws:kms or AES256")
	kmsKeyID := fs.String("kms-key-id", "", "with --sse aws:kms: the destination's KMS key ARN (or `ID`, or alias/NAME; a bucket in another region needs its own key)")
	noWindow := fs.Bool("no-window", false, "promote the release without the source's maintenance windows: hosts take it at any time")
	var wf waitFlags
	wf.register(fs, true)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wf.check(fs, true, conn.insecureEndpoint); err != nil {
		return err
	}
	if len(pos) != 2 {
		return cli.Usagef("want a source and a destination s3://bucket/key, got %d arguments", len(pos))
	}
	addrs, err := parseAddresses(pos)
	if err != nil {
		return err
	}
	src, dst := addrs[0], addrs[1]
	if src == dst {
		return cli.Usagef("source and destination are the same channel")
	}
	in := release.PromoteInput{VersionID: *versionID, AllowUnversioned: *allowUnversioned, Force: *force, Publisher: publisher(),
		Encryption: release.Encryption{SSE: *sse, KMSKeyID: *kmsKeyID}}
	if err := in.Encryption.Validate(); err != nil {
		return cli.Usagef("--sse/--kms-key-id: %v", err)
	}
	if in.Edit, err = promoteWindows(windows, *noWindow); err != nil {
		return err
	}
	if *signKey != "" {
		if in.Key, err = release.LoadSigningKey(*signKey); err != nil {
			return err
		}
	}
	if in.PublicKeys, err = loadPublicKeys(pubKeys); err != nil {
		return err
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	res, err := c.Promote(ctx, src, dst, in)
	if err != nil {
		return err
	}
	printPromote(stdout, src, dst, in, res)
	if !wf.wait {
		return nil
	}
	w := waiter{c: c, flags: &wf, insecure: conn.insecureEndpoint, stdout: stdout, stderr: stderr}
	return w.follow(ctx, []waitFor{{dst, fleet.Target{VersionID: res.VersionID, SHA256: res.Source.Manifest.SHA256}}})
}

// promoteWindows is the edit of the promoted manifest that --window and
// --no-window ask for, nil when neither is given (the source's policy is
// kept as it is).
func promoteWindows(specs []string, none bool) (func(*release.Manifest) error, error) {
	switch {
	case none && len(specs) > 0:
		return nil, cli.Usagef("--no-window and --window exclude each other")
	case none:
		return fleet.SetWindows(nil), nil
	case len(specs) == 0:
		return nil, nil
	}
	ws, err := fleet.ParseWindows(specs)
	if err != nil {
		return nil, cli.Usagef("--window: %v", err)
	}
	return fleet.SetWindows(ws), nil
}

// printPromote says what a promote did.
func printPromote(stdout io.Writer, src, dst release.Address, in release.PromoteInput, res *release.PromoteResult) {
	m := res.Source.Manifest
	check := "sha256 verified"
	switch {
	case res.SignatureChecked:
		check += ", signature by key " + m.KeyID + " verified"
	case m.Signed():
		check += ", signature not checked (no --public-key)"
	default:
		check += ", unsigned"
	}
	if in.Key != nil {
		check += ", re-signed for the destination by key " + in.Key.ID()
	}
	if res.Skipped {
		fmt.Fprintf(stdout, "%s: unchanged: current VersionId %s already has %s (sha256 %s); nothing copied (--force copies anyway)\n", dst, res.VersionID, kindNote(m), m.ShortSHA())
		return
	}
	fmt.Fprintf(stdout, "%s: promoted %s from %s (VersionId %s; %s), new VersionId %s\n",
		dst, kindNote(m), src, res.Source.VersionID, check, res.VersionID)
}
