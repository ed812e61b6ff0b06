package main

import (
	"context"
	"flag"
	"fmt"
	"io"

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
publish time. Agents that refuse to go back in time reject that; with
--sign-key the manifest is re-signed with a fresh publish time instead.

Examples:
  pkgdeb rollback s3://acme-releases/hello/production.deb --to previous --dry-run
  pkgdeb rollback s3://acme-releases/hello/production.deb --to 1.2.2 --sign-key ci.key

Flags:
`

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pkgdeb rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var conn s3Flags
	conn.register(fs)
	to := fs.String("to", "", "`target`: previous, a VersionId, or a package version (required)")
	dryRun := fs.Bool("dry-run", false, "show what would be restored without changing anything")
	signKey := fs.String("sign-key", "", "re-sign the restored manifest with a fresh publish time using this private key `file`")
	who := fs.String("publisher", "", "who rolls back, recorded when re-signing (default: user@host)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rollbackHelp)
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.Usagef("want exactly one s3://bucket/key, got %d arguments", len(pos))
	}
	if *to == "" {
		return cli.Usagef("--to is required: previous, a VersionId or a package version")
	}
	addrs, err := parseAddresses(pos)
	if err != nil {
		return err
	}
	a := addrs[0]
	in := release.RollbackInput{To: *to, DryRun: *dryRun, Publisher: *who}
	if *signKey != "" {
		if in.Key, err = release.LoadSigningKey(*signKey); err != nil {
			return err
		}
		if in.Publisher == "" {
			in.Publisher = publisher()
		}
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	res, err := c.Rollback(ctx, a, in)
	if err != nil {
		return err
	}
	t, m := res.Target, res.Manifest
	what := fmt.Sprintf("%s %s (VersionId %s, sha256 %s, published %s)", m.Package, m.Version, t.VersionID, m.ShortSHA(), t.Manifest.PublishedAt.Format("2006-01-02T15:04:05Z"))
	cur := "nothing"
	if res.Previous != nil && res.Previous.Manifest != nil {
		cur = fmt.Sprintf("%s (VersionId %s)", res.Previous.Manifest.Version, res.Previous.VersionID)
	}
	switch {
	case res.AlreadyCurrent:
		fmt.Fprintf(stdout, "%s: %s is already current; nothing to do\n", a, what)
	case *dryRun:
		fmt.Fprintf(stdout, "%s: would restore %s over the current %s (%s); dry run, nothing changed\n", a, what, cur, signedNote(m))
	default:
		fmt.Fprintf(stdout, "%s: restored %s over %s (%s); new current VersionId %s\n", a, what, cur, signedNote(m), res.VersionID)
	}
	return nil
}
