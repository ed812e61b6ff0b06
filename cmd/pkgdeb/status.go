package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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

Exit status: 0 when at least one host is live and every live host runs the
current release (the deploy is done); 1 when not (or on any error; the
reason is on stderr); 2 for a usage error. With --watch, the status is
printed again every --interval until the deploy is done (exit 0) or the
command is interrupted (exit 1).

--json prints one JSON object (with --watch: one per line, per refresh):
  channel, time, converged (bool), verdict,
  current {version_id, package, version, sha256, published_at},
  counts {hosts, live, stale, on_current, installing, failed, rolled_back,
          refused, other_version, none, unreadable},
  versions [{version, sha256, current, hosts}]   (live hosts per version)
  hosts [{host, package, version, sha256, version_id, state, target, error,
          since, time, last_seen, stale, on_current}]
  rollout {policy, waves, wave, of, percent, wave_started, next_wave,
           on_release, covered, live, updating [{host, slot, expires}],
           failures [{host, version, sha256, outcome, error, time}],
           halted, halt_reason}
where a host's fields up to "time" are its status object as the agent wrote
it (state: none, ok, installing, failed, rolled-back, refused, waiting,
halted; or "unreadable" when its object could not be read, with the reason
in error; waiting and halted hosts carry "rollout" with their wave, place
and why).

A release published with a rollout policy (pkgdeb publish --rollout,
--max-updating, --halt-after) shows the wave in force, the progress (live
hosts on the release / live hosts the waves cover so far / live hosts),
the hosts updating now, the failures, and whether the release is halted
and why (pkgdeb halt, or --halt-after failures; pkgdeb resume continues).

Examples:
  pkgdeb status s3://acme-releases/hello/production.deb
  pkgdeb status --watch s3://acme-releases/hello/production.deb && echo deployed
  pkgdeb status --json s3://acme-releases/hello/production.deb | jq '.hosts[] | select(.stale)'

Flags:
`

// defaultStale is three agent heartbeats (10 minutes each): a live agent
// can miss two writes before it counts as gone.
const defaultStale = 30 * time.Minute

// stateUnreadable marks a host whose status object could not be read.
const stateUnreadable = "unreadable"

// statusReport is what pkgdeb status shows; its JSON form is documented in
// statusHelp and is a stable interface.
type statusReport struct {
	Channel   string         `json:"channel"`
	Time      time.Time      `json:"time"`
	Converged bool           `json:"converged"`
	Verdict   string         `json:"verdict"`
	Current   currentRelease `json:"current"`
	Counts    statusCounts   `json:"counts"`
	Versions  []versionHosts `json:"versions"`
	Hosts     []hostReport   `json:"hosts"`
	// Rollout is set when the current release has a rollout policy, a
	// halt record or recorded failures.
	Rollout *rolloutReport `json:"rollout,omitempty"`
}

// rolloutReport is the current release's staged rollout.
type rolloutReport struct {
	Policy      string                  `json:"policy"`
	Waves       []float64               `json:"waves"`
	Wave        int                     `json:"wave"` // in force, from 1
	Of          int                     `json:"of"`
	Percent     float64                 `json:"percent"`
	WaveStarted time.Time               `json:"wave_started"`
	NextWave    time.Time               `json:"next_wave,omitzero"`
	OnRelease   int                     `json:"on_release"` // live hosts
	Covered     int                     `json:"covered"`    // live hosts the waves cover so far
	Live        int                     `json:"live"`
	Updating    []updatingHost          `json:"updating"`
	Failures    []release.FailureRecord `json:"failures"`
	Halted      bool                    `json:"halted"`
	HaltReason  string                  `json:"halt_reason,omitempty"`
}

type updatingHost struct {
	Host    string    `json:"host"`
	Slot    int       `json:"slot"`
	Expires time.Time `json:"expires"`
}

type currentRelease struct {
	VersionID   string    `json:"version_id"`
	Package     string    `json:"package,omitempty"`
	Version     string    `json:"version,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
}

type statusCounts struct {
	Hosts        int `json:"hosts"`
	Live         int `json:"live"`
	Stale        int `json:"stale"`
	OnCurrent    int `json:"on_current"`
	Installing   int `json:"installing"`
	Failed       int `json:"failed"`
	RolledBack   int `json:"rolled_back"`
	Refused      int `json:"refused"`
	OtherVersion int `json:"other_version"`
	None         int `json:"none"`
	Unreadable   int `json:"unreadable"`
}

type versionHosts struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
	Current bool   `json:"current"`
	Hosts   int    `json:"hosts"`
}

type hostReport struct {
	release.HostStatus
	// LastSeen is the earlier of the host's own timestamp and the
	// object's Last-Modified, so that neither a fast host clock nor a
	// rewrite of the object hides a silent host.
	LastSeen  time.Time `json:"last_seen"`
	Stale     bool      `json:"stale"`
	OnCurrent bool      `json:"on_current"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb status", statusHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of a table")
	watch := fs.Bool("watch", false, "refresh until every live host runs the current release")
	interval := fs.Duration("interval", 2*time.Second, "time between refreshes with --watch")
	stale := fs.Duration("stale", defaultStale, "a host not heard from for longer than this is stale and does not count")
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
	show := func(r *statusReport) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			if !*watch {
				enc.SetIndent("", "  ")
			}
			return enc.Encode(r)
		}
		if *watch && isTerminal(stdout) {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		printStatus(stdout, r)
		return nil
	}
	if !*watch {
		r, err := fleetStatus(ctx, c, ch, *stale)
		if err != nil {
			return err
		}
		if err := show(r); err != nil {
			return err
		}
		if !r.Converged {
			return errors.New(r.Verdict)
		}
		return nil
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		r, err := fleetStatus(ctx, c, ch, *stale)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("watch %s: %w", ch, ctx.Err())
		case err != nil:
			// The channel may not exist yet or the network may be
			// down for a moment: keep watching.
			fmt.Fprintf(stderr, "%s %v\n", time.Now().Format(time.TimeOnly), err)
		default:
			if err := show(r); err != nil {
				return err
			}
			if r.Converged {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch %s: %w", ch, ctx.Err())
		case <-t.C:
		}
	}
}

// fleetStatus reads the channel's current version and every host's status
// object and summarises them.
func fleetStatus(ctx context.Context, c *release.Client, ch release.Address, stale time.Duration) (*statusReport, error) {
	cur, err := c.Head(ctx, ch, "")
	if errors.Is(err, release.ErrNotFound) {
		return nil, fmt.Errorf("status %s: no release published there: %w", ch, err)
	}
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", ch, err)
	}
	fleet, err := c.ReadStatus(ctx, ch)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", ch, err)
	}
	now := time.Now()
	r := summarize(ch, cur, fleet, now, stale)
	if cur.Manifest != nil {
		if err := addRollout(ctx, c, ch, cur.Manifest, r, now); err != nil {
			return nil, fmt.Errorf("status %s: %w", ch, err)
		}
	}
	return r, nil
}

// addRollout reads the current release's halt record, failures and update
// slots and adds them, with its wave and progress, to r.
func addRollout(ctx context.Context, c *release.Client, ch release.Address, m *release.Manifest, r *statusReport, now time.Time) error {
	ro, err := release.RolloutOf(m)
	if err != nil {
		r.Verdict = fmt.Sprintf("the current release's rollout policy is malformed (agents refuse it): %v; %s", err, r.Verdict)
		return nil
	}
	st, err := c.ReadRolloutState(ctx, ch, m.SHA256, ro.HaltAfter)
	if err != nil {
		return err
	}
	if ro.IsDefault() && st.Record == nil && len(st.FailedHosts) == 0 {
		return nil
	}
	failures, err := c.ReadFailures(ctx, ch, m.SHA256)
	if err != nil {
		return err
	}
	w := ro.WaveAt(now)
	rr := &rolloutReport{Policy: ro.Policy.String(), Waves: ro.Waves, Wave: w.Index + 1, Of: w.Waves, Percent: w.Percent,
		WaveStarted: w.Start.UTC(), NextWave: w.Next.UTC(), Failures: failures, Halted: st.Halted, HaltReason: st.Reason,
		Updating: []updatingHost{}}
	if !st.Halted && st.Record != nil {
		rr.HaltReason = st.Record.Describe() // a resume: who and why
	}
	if slots := max(ro.MaxUpdating, ro.HaltAfter); slots > 0 {
		leases, err := c.ReadLeases(ctx, ch, slots)
		if err != nil {
			return err
		}
		for _, l := range leases {
			if l.Record.Held(now) {
				rr.Updating = append(rr.Updating, updatingHost{Host: l.Record.Holder, Slot: l.Slot, Expires: l.Record.Expires.UTC()})
			}
		}
	}
	for _, h := range r.Hosts {
		if h.Stale || h.State == stateUnreadable {
			continue
		}
		rr.Live++
		if h.OnCurrent {
			rr.OnRelease++
		}
		if ro.Covers(h.Host, now) {
			rr.Covered++
		}
	}
	r.Rollout = rr
	if st.Halted {
		r.Converged = false
		r.Verdict = "HALTED: " + st.Reason + "; " + r.Verdict
	}
	return nil
}

// summarize builds the report from what S3 returned; now and stale decide
// who is live.
func summarize(ch release.Address, cur *release.Object, fleet *release.FleetStatus, now time.Time, stale time.Duration) *statusReport {
	r := &statusReport{Channel: ch.String(), Time: now.UTC(), Current: currentRelease{VersionID: cur.VersionID}}
	if m := cur.Manifest; m != nil {
		r.Current.Package, r.Current.Version, r.Current.SHA256, r.Current.PublishedAt = m.Package, m.Version, m.SHA256, m.PublishedAt
	}
	onCurrent := func(h release.HostStatus) bool {
		if r.Current.SHA256 != "" && h.SHA256 != "" {
			return h.SHA256 == r.Current.SHA256
		}
		return h.VersionID != "" && h.VersionID == r.Current.VersionID
	}
	for _, h := range fleet.Hosts {
		seen := h.Time
		if mod := fleet.Modified[h.Host]; !mod.IsZero() && (seen.IsZero() || mod.Before(seen)) {
			seen = mod
		}
		r.Hosts = append(r.Hosts, hostReport{HostStatus: h, LastSeen: seen.UTC(), OnCurrent: onCurrent(h)})
	}
	for host, err := range fleet.Unreadable {
		r.Hosts = append(r.Hosts, hostReport{HostStatus: release.HostStatus{Host: host, State: stateUnreadable, Error: err.Error()},
			LastSeen: fleet.Modified[host].UTC()})
	}
	slices.SortFunc(r.Hosts, func(a, b hostReport) int { return cmp.Compare(a.Host, b.Host) })

	n := &r.Counts
	versions := map[string]*versionHosts{}
	var problems []string
	var failed, rolledBack, refused, installing, other, stales, none, unreadable, waiting, halted []string
	for i := range r.Hosts {
		h := &r.Hosts[i]
		h.Stale = now.Sub(h.LastSeen) > stale
		n.Hosts++
		if h.Stale {
			n.Stale++
			stales = append(stales, h.Host)
			continue
		}
		n.Live++
		if h.State != stateUnreadable {
			key := h.SHA256
			if key == "" {
				key = "(none)"
			}
			v := versions[key]
			if v == nil {
				v = &versionHosts{Version: cmp.Or(h.Version, "(none)"), SHA256: h.SHA256, Current: h.OnCurrent}
				versions[key] = v
			}
			v.Hosts++
		}
		withErr := func(list *[]string) {
			s := h.Host
			if h.Target != nil && h.Target.Version != "" {
				s += " (" + h.Target.Version + ")"
			}
			if h.Error != "" {
				s += ": " + oneLine(h.Error, 200)
			}
			*list = append(*list, s)
		}
		switch h.State {
		case release.StateInstalling:
			n.Installing++
			installing = append(installing, h.Host)
		case release.StateFailed:
			n.Failed++
			withErr(&failed)
		case release.StateRolledBack:
			n.RolledBack++
			withErr(&rolledBack)
		case release.StateRefused:
			n.Refused++
			withErr(&refused)
		case stateUnreadable:
			n.Unreadable++
			withErr(&unreadable)
		case release.StateWaiting:
			waiting = append(waiting, h.Host)
		case release.StateHalted:
			halted = append(halted, h.Host)
		}
		switch {
		case h.State == stateUnreadable:
		case h.OnCurrent:
			n.OnCurrent++
		case h.Version == "":
			n.None++
			if h.State == release.StateNone || h.State == release.StateOK {
				none = append(none, h.Host)
			}
		default:
			n.OtherVersion++
			// Hosts already named for their state are not repeated.
			if h.State == release.StateOK || h.State == release.StateNone {
				other = append(other, h.Host+" "+h.Version)
			}
		}
	}
	for _, v := range versions {
		r.Versions = append(r.Versions, *v)
	}
	slices.SortFunc(r.Versions, func(a, b versionHosts) int {
		return cmp.Or(-cmp.Compare(a.Hosts, b.Hosts), cmp.Compare(a.Version, b.Version), cmp.Compare(a.SHA256, b.SHA256))
	})
	if r.Versions == nil {
		r.Versions = []versionHosts{}
	}
	if r.Hosts == nil {
		r.Hosts = []hostReport{}
	}

	curName := cmp.Or(r.Current.Version, "version "+r.Current.VersionID)
	r.Converged = n.Live > 0 && n.OnCurrent == n.Live
	add := func(what string, list []string) {
		if len(list) > 0 {
			problems = append(problems, fmt.Sprintf("%d %s: %s", len(list), what, strings.Join(list, "; ")))
		}
	}
	switch {
	case n.Hosts == 0:
		r.Verdict = "no host has reported on " + ch.String() + " yet"
	case n.Live == 0:
		r.Verdict = fmt.Sprintf("no live host: all %d stale (not heard from for %s)", n.Hosts, stale)
	case r.Converged:
		r.Verdict = fmt.Sprintf("%d/%d hosts on %s (current)", n.OnCurrent, n.Live, curName)
		if n.Stale > 0 {
			r.Verdict = fmt.Sprintf("%d/%d live hosts on %s (current); %d stale: %s", n.OnCurrent, n.Live, curName, n.Stale, strings.Join(stales, ", "))
		}
	default:
		r.Verdict = fmt.Sprintf("%d/%d on current %s", n.OnCurrent, n.Live, curName)
		add("installing", installing)
		add("waiting for their wave or an update slot", waiting)
		add("holding back a halted release", halted)
		add("failed", failed)
		add("rolled back", rolledBack)
		add("refused", refused)
		add("unreadable", unreadable)
		add("on another version", other)
		add("with nothing installed", none)
		add("stale", stales)
		if len(problems) > 0 {
			r.Verdict += "; " + strings.Join(problems, "; ")
		}
	}
	return r
}

// printStatus writes the human form of r.
func printStatus(w io.Writer, r *statusReport) {
	cur := r.Current
	fmt.Fprintf(w, "channel  %s\n", r.Channel)
	if cur.SHA256 != "" {
		fmt.Fprintf(w, "current  %s %s  sha256 %.12s  version_id %s  published %s\n",
			cur.Package, cur.Version, cur.SHA256, cur.VersionID, cur.PublishedAt.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "current  version_id %s (no release manifest)\n", cur.VersionID)
	}
	if ro := r.Rollout; ro != nil {
		printRollout(w, ro)
	}
	if len(r.Hosts) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tVERSION\tSTATE\tCURRENT\tLAST SEEN\tTARGET\tERROR")
		for _, h := range r.Hosts {
			current := "no"
			if h.OnCurrent {
				current = "yes"
			}
			seen := "never"
			if !h.LastSeen.IsZero() {
				seen = r.Time.Sub(h.LastSeen).Round(time.Second).String() + " ago"
			}
			if h.Stale {
				seen += " (stale)"
			}
			target := ""
			if h.Target != nil {
				target = h.Target.Version
			}
			msg := h.Error
			if ro := h.Rollout; msg == "" && ro != nil {
				msg = ro.Waiting + ro.Halted
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, cmp.Or(h.Version, "-"), h.State, current, seen, target, oneLine(msg, 80))
		}
		tw.Flush()
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
			fmt.Fprintf(tw, "%s\t%.12s\t%d\n", name, v.SHA256, v.Hosts)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%s\n", r.Verdict)
}

// oneLine shortens s to one line of at most n runes for the table; the
// verdict and --json carry it in full.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// printRollout writes the rollout lines under the current release.
func printRollout(w io.Writer, ro *rolloutReport) {
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
			u = append(u, fmt.Sprintf("%s (slot %d, until %s)", h.Host, h.Slot, h.Expires.Format(time.TimeOnly)))
		}
		fmt.Fprintf(w, "updating %s\n", strings.Join(u, ", "))
	}
	if len(ro.Failures) > 0 {
		var f []string
		for _, x := range ro.Failures {
			f = append(f, fmt.Sprintf("%s (%s at %s: %s)", x.Host, x.Outcome, x.Time.UTC().Format(time.TimeOnly), oneLine(x.Error, 80)))
		}
		fmt.Fprintf(w, "failures %d: %s\n", len(ro.Failures), strings.Join(f, "; "))
	}
	switch {
	case ro.Halted:
		fmt.Fprintf(w, "HALTED   %s\n         (pkgdeb resume continues it; pkgdeb rollback takes it back)\n", ro.HaltReason)
	case ro.HaltReason != "":
		fmt.Fprintf(w, "halt     none (last: %s)\n", ro.HaltReason)
	}
}
