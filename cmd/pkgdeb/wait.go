package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/notify"
	"github.com/debfleet/debfleet/release"
)

const waitHelp = `Usage: pkgdeb wait [flags] s3://BUCKET/KEY

Follow the rollout of the channel's current release (or of --version-id)
until every live host runs it, as pkgdeb status counts them: a host is live
when it reported within --stale; stale hosts are listed, not waited for.
The channel and the hosts' status objects are read every --interval (one
HEAD, one LIST per 1000 hosts, one GET per host). A staged rollout is
followed across its waves. publish, rollback and promote do the same after
their write with --wait.

On a terminal a progress bar shows the hosts on the release out of the
live hosts, the wave, the failures and the time; otherwise one line is
printed per change (the rollout started, a host changed, a wave began, a
host failed, and how it ended).

The release followed is one version: its VersionId and SHA-256. Another
publish (or rollback, or promote) to the channel in between supersedes it:
the wait stops and says so (exit 1). A version with the same bytes (a
re-signing rollback to it) is the same release.

Exit status, for CI:
  0  deployed: at least one host is live and every live host runs it
  1  failed: a live host failed, rolled back or refused the release (the
     hosts and their errors are printed; with --keep-going, once every
     live host runs it or failed it), or it was halted (pkgdeb halt, or
     --halt-after), or superseded, or an error, or the time ran out while
     the release's rollout gate (--gate-url, --gate-alarm) held hosts:
     the gate says the release should not go further
  2  usage
  3  timed out: the hosts behind are printed, with their state and error

Hosts that wait for the release's maintenance window show as "waiting
(window)" with when it next opens, and hosts whose service holds the
update (autoupdate --hold-file, --hold-url) as "held" with the service's
reason; neither ends the wait.

--timeout defaults to 30m after the release's last wave begins (at once
for a release without waves), or after its maintenance window next opens
when that is later: agents check every 10s by default and a
health check may take 30s, so a fleet capped at one host updating at a
time (--max-updating 1) still gets some 60 hosts through in that time.

--json prints one JSON object per change, one per line:
  event            started, host, wave, host-failed, read-error; then one
                   of completed, failed, halted, superseded, timed-out,
                   gated
  time, release_channel,
  release          {version_id, package, version, sha256}
  on_release, live, stale, failed    (host counts, as pkgdeb status)
  wave, waves, percent               (staged rollouts only)
  elapsed_seconds
  host             {host, state, version, target, error, previous_state,
                   stale, reason, window}   (reason: why a waiting, halted
                   or held host is not on it; window: it waits for a
                   maintenance window)
                   (host and host-failed)
  hosts            [{host, state, version, target, error}]: failed, halted:
                   the hosts that failed; timed-out: the hosts behind;
                   completed: the stale hosts not waited for
  reason           the halt's reason, the release now current
                   (superseded), the read error
  text             the change in one line, formatted for Slack and
                   Mattermost (what others wrote is in code spans, with
                   & < > escaped)

--notify URL (repeatable) POSTs the same JSON objects to a webhook when
the rollout starts, a wave begins, a host fails, rolls back or refuses the
release, and when the wait ends (completed, failed, halted, superseded,
timed out), with at most 50 hosts in "hosts". A Slack or Mattermost
incoming webhook shows their text as is.
A notification that fails is retried (3 attempts, 5s each), logged, and
never changes the exit status. The URL is a secret: it is never printed
(errors show its host only); plain http:// is refused unless on loopback
or with --insecure-endpoint, and redirects are not followed.

Examples:
  pkgdeb wait s3://acme-releases/hello/production.deb
  pkgdeb wait --timeout 10m --notify "$SLACK_WEBHOOK_URL" s3://acme-releases/hello/production.deb
  pkgdeb wait --json s3://acme-releases/hello/production.deb | jq -r .text
  pkgdeb publish --sign-key ci.key --wait --timeout 20m hello_1.2.3_amd64.deb s3://acme-releases/hello/production.deb

Flags:
`

// waitFlags are the flags of pkgdeb wait, which publish, rollback and
// promote take too, with --wait.
type waitFlags struct {
	wait                     bool
	timeout, interval, stale time.Duration
	keepGoing                bool
	notify                   cli.Strings
	given                    []string // the flags set, --wait aside
}

// waitFlagNames are the flags register adds, --wait aside.
var waitFlagNames = []string{"timeout", "interval", "stale", "keep-going", "notify"}

// register adds the wait flags to fs; withSwitch adds --wait too (for the
// commands that write first).
func (f *waitFlags) register(fs *flag.FlagSet, withSwitch bool) {
	if withSwitch {
		fs.BoolVar(&f.wait, "wait", false, "after the write, follow the rollout until every live host runs the release (see pkgdeb wait --help for the exit status)")
	}
	fs.DurationVar(&f.timeout, "timeout", 0, "give up (exit 3) after this `duration` (default 30m after the release's last wave begins)")
	fs.DurationVar(&f.interval, "interval", fleet.DefaultWaitInterval, "time between two readings of the rollout")
	fs.DurationVar(&f.stale, "stale", defaultStale, "a host not heard from for longer than this is stale and not waited for")
	fs.BoolVar(&f.keepGoing, "keep-going", false, "do not stop at the first host that fails the release: wait until every live host runs it or failed it")
	fs.Var(&f.notify, "notify", "POST a JSON message to this webhook `URL` at each step of the rollout (repeatable; Slack and Mattermost show its text)")
}

// check validates the wait flags after parsing fs, before anything is
// written: a --notify URL that would be refused later is a usage error
// now. insecure is --insecure-endpoint.
func (f *waitFlags) check(fs *flag.FlagSet, withSwitch, insecure bool) error {
	fs.Visit(func(fl *flag.Flag) {
		for _, n := range waitFlagNames {
			if fl.Name == n {
				f.given = append(f.given, "--"+n)
			}
		}
	})
	if withSwitch && !f.wait && len(f.given) > 0 {
		return cli.Usagef("%s only with --wait", f.given[0])
	}
	if f.timeout < 0 || f.interval <= 0 || f.stale <= 0 {
		return cli.Usagef("--timeout must not be negative, --interval and --stale must be positive")
	}
	for _, u := range f.notify {
		err := notify.CheckURL(u, insecure)
		if errors.Is(err, notify.ErrInsecureURL) {
			return cli.Usagef("--notify: %v (use https://, or pass --insecure-endpoint)", err)
		}
		if err != nil {
			return cli.Usagef("--notify: %v", err)
		}
	}
	return nil
}

func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb wait", waitHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	var wf waitFlags
	wf.register(fs, false)
	versionID := fs.String("version-id", "", "follow this `VersionId` of the channel (e.g. the one publish printed) instead of its current one")
	asJSON := fs.Bool("json", false, "print one JSON object per change (fields above) instead of text")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	ch, err := oneChannel(pos)
	if err != nil {
		return err
	}
	if err := wf.check(fs, false, conn.insecureEndpoint); err != nil {
		return err
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	target := fleet.Target{}
	if *versionID != "" {
		obj, err := c.Head(ctx, ch, *versionID)
		if err != nil {
			return fmt.Errorf("wait for %s version %s: %w", ch, *versionID, err)
		}
		target = fleet.TargetOf(obj)
	}
	w := waiter{c: c, flags: &wf, insecure: conn.insecureEndpoint, json: *asJSON, stdout: stdout, stderr: stderr}
	return w.follow(ctx, []waitFor{{ch, target}})
}

// waitFor is one channel to follow and its release (zero: the current).
type waitFor struct {
	channel release.Address
	target  fleet.Target
}

// waiter follows rollouts for wait and the --wait of the commands that
// write.
type waiter struct {
	c        *release.Client
	flags    *waitFlags
	insecure bool
	json     bool
	stdout   io.Writer
	stderr   io.Writer
}

// follow follows each rollout in turn, within one --timeout for all, and
// returns the error for the worst outcome: nil when every one is
// deployed, a *cli.ExitError with status 3 when the worst is a timeout,
// any other error for a failure.
func (w waiter) follow(ctx context.Context, list []waitFor) error {
	log := slog.New(slog.NewTextHandler(w.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sender, err := notify.New(notify.Options{URLs: w.flags.notify, AllowInsecure: w.insecure, Logger: log})
	if err != nil {
		return err // checked with the flags already
	}
	defer closeSender(ctx, sender)
	var deadline time.Time
	if w.flags.timeout > 0 {
		deadline = time.Now().Add(w.flags.timeout)
	}
	var failed, timedOut []error
	for _, f := range list {
		err := w.followOne(ctx, f, deadline, sender, log)
		var ee *cli.ExitError
		switch {
		case errors.As(err, &ee):
			timedOut = append(timedOut, err)
		case err != nil:
			failed = append(failed, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(failed) > 0 {
		// A failure wins over a timeout: exit 1, not 3.
		for _, err := range timedOut {
			failed = append(failed, errors.New(err.Error()))
		}
		return errors.Join(failed...)
	}
	if len(timedOut) > 0 {
		return &cli.ExitError{Code: 3, Err: errors.Join(timedOut...)}
	}
	return nil
}

// closeSender waits for the notifications still queued: at most 20s
// (three attempts of 5s and the waits between them), 2s when the command
// was interrupted.
func closeSender(ctx context.Context, s *notify.Sender) {
	limit := 20 * time.Second
	if ctx.Err() != nil {
		limit = 2 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	s.Close(cctx)
}

// followOne follows one rollout until deadline (zero: Watch's default).
func (w waiter) followOne(ctx context.Context, f waitFor, deadline time.Time, sender *notify.Sender, log *slog.Logger) error {
	out := newWaitOutput(w.stdout, w.json)
	in := fleet.WatchInput{Channel: f.channel, Releases: w.c, Target: f.target, Interval: w.flags.interval, Stale: w.flags.stale,
		KeepGoing: w.flags.keepGoing, OnReading: out.reading}
	if !deadline.IsZero() {
		in.Timeout = max(time.Until(deadline), time.Nanosecond)
	}
	res, err := fleet.New(w.c.Records(), log).Watch(ctx, in, func(e fleet.WaitEvent) {
		e.Text = e.Describe(notify.Quote)
		out.event(e)
		if notifies(e.Event) {
			if len(e.Hosts) > maxNotifiedHosts {
				e.Hosts = e.Hosts[:maxNotifiedHosts]
			}
			sender.Send(e)
		}
	})
	out.close()
	if err != nil {
		return err
	}
	msg := errors.New(res.Final.Describe(visible))
	switch res.Outcome {
	case fleet.Deployed:
		return nil
	case fleet.TimedOut:
		return &cli.ExitError{Code: 3, Err: msg}
	}
	return msg
}

// maxNotifiedHosts bounds the hosts a notification lists: a webhook
// refuses large bodies, and the text counts the rest.
const maxNotifiedHosts = 50

// notifies reports whether an event of kind is posted to --notify URLs:
// all but a host's ordinary progress and read errors.
func notifies(kind string) bool { return kind != fleet.EventHost && kind != fleet.EventReadError }
