package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
)

const haltHelp = `Usage: pkgdeb halt [flags] s3://BUCKET/KEY [--reason TEXT]

Stop the rollout of a channel's release: no host that does not run it yet
adopts it; hosts that already run it healthy keep it. The halt is a small
record next to the release (KEY.rollout/SHA256/halt.json), written with a
conditional request, so halts and resumes racing from several people or
machines never overwrite each other. Halting an already halted release
keeps the first record. To take the release away from the hosts that have
it, use pkgdeb rollback.

The release is the channel's current one, or the one with --sha256. Only
releases published with a rollout policy (--rollout with several waves,
--max-updating or --halt-after) can be halted: agents adopt a release
without one at once, without looking for a halt record.

Examples:
  pkgdeb halt s3://acme-releases/hello/production.deb --reason "p99 latency up"
  pkgdeb resume s3://acme-releases/hello/production.deb

Flags:
`

const resumeHelp = `Usage: pkgdeb resume [flags] s3://BUCKET/KEY

Continue a halted rollout: hosts adopt the release again, wave by wave as
its policy says. The failures recorded so far are forgiven: an automatic
halt (--halt-after N at publish) needs N new failures to happen again.

The release is the channel's current one, or the one with --sha256.

Example:
  pkgdeb resume s3://acme-releases/hello/production.deb --reason "config fixed"

Flags:
`

// haltFlags are the flags halt and resume share.
type haltFlags struct {
	conn   s3Flags
	sha    string
	reason string
	who    string
}

func (f *haltFlags) register(fs *flag.FlagSet) {
	f.conn.register(fs)
	fs.StringVar(&f.sha, "sha256", "", "the release's full `SHA-256` (default: the channel's current release)")
	fs.StringVar(&f.reason, "reason", "", "why, recorded with who and when (`text`)")
	fs.StringVar(&f.who, "by", "", "who, recorded (default: user@host)")
}

func runHalt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return haltOrResume(ctx, "halt", haltHelp, args, stdout, stderr)
}

func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return haltOrResume(ctx, "resume", resumeHelp, args, stdout, stderr)
}

func haltOrResume(ctx context.Context, op, help string, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb "+op, help, stderr)
	var f haltFlags
	f.register(fs)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	ch, err := oneChannel(pos)
	if err != nil {
		return err
	}
	if f.who == "" {
		f.who = publisher()
	}
	c, err := f.conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	fc := fleet.New(c.Records(), nil)
	sha, version := f.sha, ""
	var policy fleet.Policy
	if sha == "" {
		obj, err := c.Head(ctx, ch, "")
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if obj.Manifest == nil {
			return fmt.Errorf("%s %s: the current version is not a release: %w", op, ch, obj.ManifestErr)
		}
		sha, version = obj.Manifest.SHA256, obj.Manifest.Version
		if policy, err = fleet.PolicyOf(obj.Manifest); err != nil {
			return fmt.Errorf("%s %s: %w", op, ch, err)
		}
		if op == "halt" && policy.IsDefault() {
			return fmt.Errorf("halt %s: %s %s was published without a rollout policy: every host adopts it at once and agents do not "+
				"look for a halt; take it back with pkgdeb rollback %s --to previous (publish with --rollout, --max-updating or --halt-after "+
				"to be able to halt)", ch, obj.Manifest.Package, version, ch)
		}
	}
	name := version
	if name == "" {
		name = "release"
	}
	name += " (sha256 " + sha[:min(12, len(sha))] + ")"
	if op == "halt" {
		rec, already, err := fc.Halt(ctx, ch, sha, version, f.who, f.reason)
		if err != nil {
			return err
		}
		if already {
			// Whoever halted it wrote By and Reason: an agent, or anyone
			// with write access to the bucket.
			fmt.Fprintf(stdout, "%s: %s was already halted by %s at %s: %s\n", ch, name, visible(rec.By), rec.Time.Format("2006-01-02 15:04:05Z"),
				visible(rec.Reason))
			return nil
		}
		fmt.Fprintf(stdout, "%s: halted %s: no other host will adopt it; hosts running it keep it.\n", ch, name)
		fmt.Fprintf(stdout, "Continue with: pkgdeb resume %s; take it back from every host with: pkgdeb rollback %s --to previous\n", ch, ch)
		return nil
	}
	st, err := fc.ReadRolloutState(ctx, ch, sha, policy.HaltAfter)
	if err != nil {
		return err
	}
	rec, err := fc.Resume(ctx, ch, sha, version, f.who, f.reason)
	if err != nil {
		return err
	}
	if !st.Halted {
		fmt.Fprintf(stdout, "%s: %s was not halted; ", ch, name)
	} else {
		fmt.Fprintf(stdout, "%s: resumed %s (was: %s); ", ch, name, visible(st.Reason))
	}
	fmt.Fprintf(stdout, "%d recorded failures forgiven", rec.Forgiven)
	if policy.HaltAfter > 0 {
		fmt.Fprintf(stdout, "; it halts again after %d more", policy.HaltAfter)
	}
	fmt.Fprintln(stdout)
	return nil
}
