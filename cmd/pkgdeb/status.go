package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const statusHelp = `Usage: pkgdeb status [flags] s3://BUCKET/KEY

Show how the channel's current release has reached the fleet, from the
status objects every agent writes next to the release
(KEY.status/HOST.json): hosts per installed version, which hosts run the
current release, hosts installing, failures, rollbacks and refusals with
their errors, hosts not heard from for longer than --stale, and a one-line
verdict.

A host is live when it has reported within --stale (agents rewrite their
status at every change and every 10 minutes). Stale hosts are listed but do
not count: a terminated instance leaves its status object behind.

Every status object is read (64 at a time) and counted, and the counts,
versions and verdict are of the whole fleet, but the host table (and
--json's "hosts") shows at most --hosts hosts (default 100): the most
relevant ones, sorted by name: first those something went wrong on
(unreadable, failed, rolled back, refused), then those on their way or
held (installing, waiting, halted, gated, held), then live hosts on another
version or none, then stale hosts, then hosts on the current release. A
line (--json: "hosts_omitted") says how many are left out. The verdict
names at most 10 hosts per group and counts the others. Memory stays
bounded whatever the size of the fleet.

--hosts all lists every host, in the order S3 lists them (by host name,
except that "web-1-a" comes before "web-1"), as they are read, without
keeping them: the table comes first, aligned in blocks of 1000 rows and
with a CONFIG column, and the summary after it; with --json, "hosts" is
written first and the other fields after it. A fleet of 100,000 hosts
takes 100 LISTs and 100,000 GETs either way.

Exit status: 0 when at least one host is live and every live host runs the
current release (the deploy is done); 1 when not (or on any error; the
reason is on stderr); 2 for a usage error. With --watch, the status is
printed again every --interval until the deploy is done (exit 0) or the
command is interrupted (exit 1); each refresh after the first GETs only
the status objects that changed since (for up to 100,000 hosts).

--json prints one JSON object (with --watch: one per line, per refresh):
  channel, time, converged (bool), verdict,
  current {version_id, package, version, sha256, published_at, publisher,
           key_id},
  counts {hosts, live, stale, on_current, installing, failed, rolled_back,
          refused, other_version, none, unreadable},
  versions [{version, sha256, current, hosts}]   (live hosts per version;
           past 1000 versions, the others as "(other versions)")
  hosts_omitted   (hosts not in "hosts"; absent when 0)
  hosts [{host, package, version, sha256, version_id, state, target, error,
          rollout, hold, since, time, last_seen, stale, on_current}]
  rollout {policy, waves, wave, of, percent, wave_started, next_wave,
           on_release, covered, live, updating [{host, slot, expires}],
           failures [{host, version, sha256, outcome, error, time}],
           halted, halt_reason, wave_starts, halted_at, gate, gated,
           gate_reason}
where a host's fields up to "time" are its status object as the agent wrote
it (without --hosts all, texts over 4096 bytes are cut; state: none, ok, installing, failed, rolled-back, refused, waiting,
halted, held, gated; or "unreadable" when its object could not be read,
with the reason in error; waiting, halted and gated hosts carry "rollout"
with their wave, place and why, and, when they wait for a maintenance
window, its "window" and "window_opens"; held hosts carry "hold" {reason,
since, until}: the service asked not to be updated, and "until" is when its
agent's --max-hold runs out; an install that went ahead then keeps "hold"
with "expired": true).

A host whose agent also follows a config channel (autoupdate
--config-source) shows its config version in a CONFIG column.

The table shows a host waiting for a maintenance window as "waiting
(window)" and says when the window next opens; a held host as "held",
with the reason its service gave.

Host names, versions, states and errors are what agents wrote: characters
a terminal would act on (escape sequences, carriage returns, bidi
overrides) are printed as Go escapes (\x1b, \r, \u202e); --json has the
exact texts, with such characters \u-escaped.

A release published with a rollout policy (pkgdeb publish --rollout,
--max-updating, --halt-after) shows the wave in force, the progress (live
hosts on the release / live hosts the waves cover so far / live hosts),
the hosts updating now, the failures, and whether the release is halted
and why (pkgdeb halt, or --halt-after failures; pkgdeb resume continues).
The policy line names its maintenance windows (publish --window).
A release with a gate (--gate-url, --gate-alarm) shows the hosts its gate
holds (state gated) and why, e.g.
  GATED    3 live hosts held by the gate: alarm "api-5xx" is in ALARM

Examples:
  pkgdeb status s3://acme-releases/hello/production.deb
  pkgdeb status --watch s3://acme-releases/hello/production.deb && echo deployed
  pkgdeb status --hosts all --json s3://acme-releases/hello/production.deb | jq '.hosts[] | select(.stale)'
  pkgdeb status --hosts all s3://acme-releases/hello/production.deb | grep ' failed '

Flags:
`

// watchCachedHosts bounds the hosts status --watch keeps between
// refreshes, about cachedHostBytes each (measured: 49 MiB of heap for
// 100,000): past it, hosts are read at each refresh.
const (
	watchCachedHosts = 100_000
	cachedHostBytes  = 640
)

// defaultStale is three agent heartbeats (10 minutes each): a live agent
// can miss two writes before it counts as gone.
const defaultStale = 30 * time.Minute

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb status", statusHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of a table")
	watch := fs.Bool("watch", false, "refresh until every live host runs the current release")
	interval := fs.Duration("interval", 2*time.Second, "time between refreshes with --watch")
	stale := fs.Duration("stale", defaultStale, "a host not heard from for longer than this is stale and does not count")
	hosts := hostsFlag{n: defaultHosts}
	fs.Var(&hosts, "hosts", "show at most `N` hosts, the most relevant (see above), or all: every host, streamed as read")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	ch, err := oneChannel(pos)
	if err != nil {
		return err
	}
	if *interval <= 0 || *stale <= 0 {
		return cli.Usagef("--interval and --stale must be positive")
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	var cache *fleet.StatusCache
	if *watch {
		cache = fleet.NewStatusCache(watchCachedHosts)
		tuneGC(watchCachedHosts * cachedHostBytes)
	} else {
		tuneGC(0)
	}
	out := statusOutput{w: stdout, json: *asJSON, indent: !*watch, clear: *watch && isTerminal(stdout), all: hosts.all}
	read := func() (*fleet.Summary, error) {
		out.start()
		o := fleet.SummaryOptions{Stale: *stale, MaxHosts: hosts.n, Cache: cache}
		if hosts.all {
			o.MaxHosts, o.Each = 0, out.host
		}
		r, err := fleetStatus(ctx, c, ch, o)
		if err != nil {
			out.abort()
			return nil, err
		}
		return r, out.summary(r)
	}
	if *watch {
		return watchStatus(ctx, ch, read, *interval, stderr)
	}
	r, err := read()
	if err != nil {
		return err
	}
	if !r.Converged {
		return errors.New(visible(r.Verdict))
	}
	return nil
}

// watchStatus reads (and prints) ch's status every interval until every
// live host runs the current release, ctx ends, or the output cannot be
// written; other errors are printed to stderr and the watch goes on.
func watchStatus(ctx context.Context, ch release.Address, read func() (*fleet.Summary, error), interval time.Duration, stderr io.Writer) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := read()
		var werr *writeError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("watch %s: %w", ch, ctx.Err())
		case errors.As(err, &werr):
			return err
		case err != nil:
			// The channel may not exist yet or the network may be
			// down for a moment: keep watching.
			fmt.Fprintf(stderr, "%s %s\n", time.Now().Format(time.TimeOnly), visible(err.Error()))
		case r.Converged:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch %s: %w", ch, ctx.Err())
		case <-t.C:
		}
	}
}

// fleetStatus reads the channel's current version and every host's status
// object and summarises them as o says (fleet.Client.StreamSummary).
func fleetStatus(ctx context.Context, c *release.Client, ch release.Address, o fleet.SummaryOptions) (*fleet.Summary, error) {
	cur, err := c.Head(ctx, ch, "")
	if errors.Is(err, release.ErrNotFound) {
		return nil, fmt.Errorf("status %s: no release published there: %w", ch, err)
	}
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", ch, err)
	}
	s, err := fleet.New(c.Records(), nil).StreamSummary(ctx, ch, cur, time.Now(), o)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", ch, err)
	}
	if cur.Plain() {
		s.Current.Plain = true
		// One ranged GET, as history does, to say what the upload is.
		v := []release.Version{{VersionID: cur.VersionID, ETag: cur.ETag, Size: cur.Size, Current: true}}
		if err := c.ReadPlain(ctx, ch, v, readDebPrefix); err != nil {
			return nil, fmt.Errorf("status %s: %w", ch, err)
		}
		if p := v[0].Plain; p != nil {
			s.Current.Package, s.Current.Version = p.Package, p.Version
		}
	}
	return s, nil
}

// kindPrefix names a release's kind before its package name in status
// and wait output: nothing for a package, "config of " for a
// configuration.
func kindPrefix(kind string) string {
	if kind == "" || kind == release.KindDeb {
		return ""
	}
	return kind + " of "
}

// printStatus writes the human form of r. Agents (any of them, with one
// server's credentials) write the host names, versions, states and errors
// it shows: each goes through visible, and so does the verdict, which
// fleet.Summarize builds from them.
func printStatus(w io.Writer, r *fleet.Summary) {
	cur := r.Current
	fmt.Fprintf(w, "channel  %s\n", visible(r.Channel))
	if cur.SHA256 != "" {
		fmt.Fprintf(w, "current  %s%s %s  sha256 %.12s  version_id %s  published %s\n",
			kindPrefix(cur.Kind), cur.Package, cur.Version, cur.SHA256, cur.VersionID, cur.PublishedAt.UTC().Format(time.RFC3339))
	} else if cur.Plain {
		fmt.Fprintf(w, "current  %s %s  version_id %s  (plain upload, no manifest: unsigned agents take it, signed ones refuse it; name and version read from the .deb)\n",
			visible(cmp.Or(cur.Package, "?")), visible(cmp.Or(cur.Version, "?")), cur.VersionID)
	} else {
		fmt.Fprintf(w, "current  version_id %s (no valid release manifest)\n", cur.VersionID)
	}
	if ro := r.Rollout; ro != nil {
		printRollout(w, ro)
	}
	if len(r.Hosts) > 0 {
		printHosts(w, r)
	}
	if r.HostsOmitted > 0 {
		fmt.Fprintf(w, "... and %d more hosts (the table shows the %d most relevant; --hosts all lists every host)\n", r.HostsOmitted, len(r.Hosts))
	}
	if len(r.Versions) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSHA256\tLIVE HOSTS")
		for _, v := range r.Versions {
			name := v.Version
			if v.Current {
				name += " (current)"
			}
			fmt.Fprintf(tw, "%s\t%.12s\t%d\n", visible(name), visible(v.SHA256), v.Hosts)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%s\n", visible(r.Verdict))
	printRefusalAdvice(w, r)
	printWaitAdvice(w, r)
}

// printHosts prints r's host table, with a CONFIG column when some host
// follows a config channel beside its package (autoupdate --config-source).
func printHosts(w io.Writer, r *fleet.Summary) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	withConfig := slices.ContainsFunc(r.Hosts, func(h fleet.HostSummary) bool { return h.Config != nil })
	config := func(h fleet.HostSummary) string {
		if !withConfig {
			return ""
		}
		if h.Config == nil {
			return "-\t"
		}
		return visible(h.Config.Version) + "\t"
	}
	header := "HOST\tVERSION\tSTATE\tCURRENT\tLAST SEEN\tTARGET\tERROR"
	if withConfig {
		header = "HOST\tVERSION\tCONFIG\tSTATE\tCURRENT\tLAST SEEN\tTARGET\tERROR"
	}
	fmt.Fprintln(tw, header)
	for i := range r.Hosts {
		fmt.Fprintln(tw, hostRow(&r.Hosts[i], r.Time, config))
	}
	tw.Flush()
}

// hostRow is h's row of the host table at now, its columns separated by
// tabs; config gives the CONFIG column and its tab, or "".
func hostRow(h *fleet.HostSummary, now time.Time, config func(fleet.HostSummary) string) string {
	current := "no"
	if h.OnCurrent {
		current = "yes"
	}
	seen := "never"
	if !h.LastSeen.IsZero() {
		seen = now.Sub(h.LastSeen).Round(time.Second).String() + " ago"
	}
	if h.Stale {
		seen += " (stale)"
	}
	target := ""
	if h.Target != nil {
		target = h.Target.Version
	}
	return fmt.Sprintf("%s\t%s\t%s%s\t%s\t%s\t%s\t%s", visible(h.Host), visible(cmp.Or(h.Version, "-")), config(*h), visible(h.StateLabel()), current, seen,
		visible(target), visible(fleet.OneLine(h.Reason(), 80)))
}

// printWaitAdvice says what to do about live hosts waiting for a
// maintenance window or held by their service, when there are any.
func printWaitAdvice(w io.Writer, r *fleet.Summary) {
	window, held := r.Advice.Window, r.Advice.Held
	if window > 0 {
		fmt.Fprintf(w, "%d hosts wait for the release's maintenance window: each updates at its first check after it opens. "+
			"To update them now, publish again with another --window (or none); a rollback is not held by windows unless --respect-window\n", window)
	}
	if held > 0 {
		fmt.Fprintf(w, "%d hosts are held by their service (its autoupdate --hold-file or --hold-url): each updates once its service "+
			"lifts the hold, or anyway when its --max-hold runs out (see its hold.until with --json)\n", held)
	}
}

// refusalAdvice says, per fleet.HostStatus.Refusal code, what to do about
// hosts that refused the current release for that reason.
var refusalAdvice = map[string]string{
	fleet.RefusedReplay: "refused an older signed release put back as current without re-signing (an S3 console restore or a copy): " +
		"restore releases with: pkgdeb rollback %s --to VERSION --sign-key KEY, which re-signs it with a fresh publication time",
	fleet.RefusedUnsigned: "refused an unsigned release or a plain upload: publish with: pkgdeb publish --sign-key KEY FILE %s " +
		"(or run those agents with --allow-unsigned, if anyone who can write the channel may run code on them)",
	fleet.RefusedUntrusted: "refused a release signed by a key they do not trust, or signed for another channel: " +
		"sign with the key whose public half they have, for %s (pkgdeb promote --sign-key re-signs a release for another channel)",
}

// printRefusalAdvice writes one line per refusal code among r's live hosts.
func printRefusalAdvice(w io.Writer, r *fleet.Summary) {
	counts := r.Advice.Refused
	for _, code := range slices.Sorted(maps.Keys(counts)) {
		if refusalAdvice[code] != "" {
			fmt.Fprintf(w, "%d hosts %s\n", counts[code], fmt.Sprintf(refusalAdvice[code], visible(r.Channel)))
		}
	}
}

// printRollout writes the rollout lines under the current release.
func printRollout(w io.Writer, ro *fleet.RolloutSummary) {
	fmt.Fprintf(w, "rollout  %s\n", ro.Policy)
	wave := fmt.Sprintf("wave     %d/%d (%s) since %s", ro.Wave, ro.Of, strconv.FormatFloat(ro.Percent, 'f', -1, 64)+"%", ro.WaveStarted.Format(time.RFC3339))
	if !ro.NextWave.IsZero() {
		wave += ", next at " + ro.NextWave.Format(time.RFC3339)
	}
	fmt.Fprintln(w, wave)
	fmt.Fprintf(w, "progress %d on the release / %d covered so far / %d live hosts\n", ro.OnRelease, ro.Covered, ro.Live)
	if len(ro.Updating) > 0 {
		var u []string
		for _, h := range ro.Updating {
			u = append(u, fmt.Sprintf("%s (slot %d, until %s)", visible(h.Host), h.Slot, h.Expires.Format(time.TimeOnly)))
		}
		fmt.Fprintf(w, "updating %s\n", strings.Join(u, ", "))
	}
	if len(ro.Failures) > 0 {
		var f []string
		for _, x := range ro.Failures {
			f = append(f, fmt.Sprintf("%s (%s at %s: %s)", visible(x.Host), visible(x.Outcome), x.Time.UTC().Format(time.TimeOnly),
				visible(fleet.OneLine(x.Error, 80))))
		}
		fmt.Fprintf(w, "failures %d: %s\n", len(ro.Failures), strings.Join(f, "; "))
	}
	if ro.Gated > 0 {
		fmt.Fprintf(w, "GATED    %d live hosts held by the gate: %s\n", ro.Gated, visible(fleet.OneLine(ro.GateReason, 200)))
	}
	switch {
	case ro.Halted:
		fmt.Fprintf(w, "HALTED   %s\n         (pkgdeb resume continues it; pkgdeb rollback takes it back)\n", visible(ro.HaltReason))
	case ro.HaltReason != "":
		fmt.Fprintf(w, "halt     none (last: %s)\n", visible(ro.HaltReason))
	}
}
