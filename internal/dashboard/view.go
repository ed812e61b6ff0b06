package dashboard

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// maxText bounds every text someone else wrote as the page shows it (a
// status object may hold a megabyte of error); the JSON endpoint has the
// full texts.
const maxText = 300

// funcs are the templates' helpers; none of them returns markup, so
// html/template escapes everything they return.
var funcs = template.FuncMap{
	"short": shown,
	"sha12": func(s string) string { return s[:min(12, len(s))] },
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"pct": func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" },
}

// shown is s as the page shows it: on one line, at most maxText runes,
// and every rune that would act rather than show (bidi overrides that
// make one host name read as another, zero-width and other format
// characters, controls) written as a Go escape, "\u202e". html/template
// then escapes it for where it lands.
func shown(s string) string {
	s = fleet.OneLine(s, maxText)
	var b strings.Builder
	for _, r := range s {
		if strconv.IsPrint(r) {
			b.WriteRune(r)
		} else {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// channelView is what the channel template shows.
type channelView struct {
	ID, Name string
	Sum      *fleet.Summary
	Err      string // of the last read
	ReadAt   time.Time
	State    string // converged, halted, progress, error
	Commands []command
	Hosts    []hostView
	// Config: some host follows a config channel beside this one, so the
	// host table has a config column.
	Config  bool
	Legend  []legendItem
	History []historyView
	HistErr string
	Chart   *chart
}

// command is a CLI command shown ready to copy.
type command struct {
	ID, What, Text string
}

// hostView is one host's row and cell.
type hostView struct {
	ID    string
	H     fleet.HostSummary
	Class string // the cell's colour
	Seen  string // how long ago
	Note  string // error, or why it waits, is halted or held
	State string // the state as people read it: "waiting (window)"
	Tgt   string
}

// legendItem is one colour of the host cells, with its count.
type legendItem struct {
	Class, Label string
	N            int
}

// historyView is one version of the channel's history.
type historyView struct {
	V       release.Version
	What    string // published, put back (a rollback), deleted, plain upload
	Version string
	SHA     string
	By      string
	Signer  string
	When    time.Time
}

// channelView builds the view of c at now.
func (s *Server) channelView(c *channel, now time.Time) *channelView {
	v := &channelView{ID: c.id, Name: c.addr.String(), Sum: c.sum, ReadAt: now.UTC()}
	if c.err != nil {
		v.Err, v.State = c.err.Error(), "error"
	}
	v.Commands = commands(c.id, c.addr)
	if c.histErr != nil {
		v.HistErr = c.histErr.Error()
	}
	v.History = historyOf(c.history)
	if c.sum == nil {
		return v
	}
	switch {
	case v.State != "":
	case c.sum.Rollout != nil && c.sum.Rollout.Halted:
		v.State = "halted"
	case c.sum.Converged:
		v.State = "converged"
	default:
		v.State = "progress"
	}
	v.Hosts, v.Legend = hostsOf(c.id, c.sum)
	v.Config = slices.ContainsFunc(c.sum.Hosts, func(h fleet.HostSummary) bool { return h.Config != nil })
	v.Chart = newChart(c.sum, c.samples)
	return v
}

// commands are the CLI commands that act on ch, quoted for a POSIX
// shell; none when the channel's name holds characters a terminal would
// act on, which no quoting makes safe to paste.
func commands(id string, ch release.Address) []command {
	name, ok := shellQuote(ch.String())
	if !ok {
		return nil
	}
	return []command{
		{id + "-cmd-halt", "halt the rollout", "pkgdeb halt " + name + " --reason 'WHY'"},
		{id + "-cmd-resume", "resume it", "pkgdeb resume " + name + " --reason 'WHY'"},
		{id + "-cmd-rollback", "roll back", "pkgdeb rollback " + name + " --to previous"},
		{id + "-cmd-status", "watch from a terminal", "pkgdeb status --watch " + name},
	}
}

// shellQuote quotes s for a POSIX shell: as is when it holds only
// characters no shell treats specially, else in single quotes. ok is
// false when s holds a control character or anything but printable
// ASCII (a pasted line must read as what it runs).
func shellQuote(s string) (quoted string, ok bool) {
	safe := true
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return "", false
		}
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-", r) {
			safe = false
		}
	}
	if safe && s != "" {
		return s, true
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", true
}

// cellClass is the colour of host h's cell, and its legend.
func cellClass(h fleet.HostSummary) (class, label string) {
	switch {
	case h.Stale:
		return "stale", "stale"
	case h.State == fleet.StateFailed || h.State == fleet.StateRolledBack || h.State == fleet.StateUnreadable:
		return "bad", "failed, rolled back or unreadable"
	case h.State == fleet.StateRefused:
		return "refused", "refused"
	case h.State == fleet.StateHalted:
		return "halted", "held by a halt"
	case h.State == fleet.StateInstalling:
		return "installing", "installing"
	case h.State == fleet.StateHeld:
		return "held", "held by its service"
	case h.StateLabel() != h.State:
		return "window", "waiting for a maintenance window"
	case h.State == fleet.StateWaiting:
		return "waiting", "waiting for its wave or a slot"
	case h.State == fleet.StateGated:
		return "gated", "held by the rollout gate"
	case h.OnCurrent:
		return "current", "on the current release"
	case h.Version == "":
		return "none", "nothing installed"
	}
	return "other", "on another version"
}

// legendOrder is the order of the legend.
var legendOrder = []string{"current", "installing", "waiting", "window", "held", "gated", "halted", "other", "none", "refused", "bad", "stale"}

// hostsOf builds the rows and cells of s's hosts, and the legend.
func hostsOf(id string, s *fleet.Summary) ([]hostView, []legendItem) {
	hosts := make([]hostView, 0, len(s.Hosts))
	count, labels := map[string]int{}, map[string]string{}
	for i, h := range s.Hosts {
		class, label := cellClass(h)
		count[class]++
		labels[class] = label
		hv := hostView{ID: fmt.Sprintf("%s-h%d", id, i), H: h, Class: class, Seen: "never", Note: h.Reason(), State: h.StateLabel()}
		if !h.LastSeen.IsZero() {
			hv.Seen = ago(s.Time.Sub(h.LastSeen)) + " ago"
		}
		if h.Target != nil {
			hv.Tgt = h.Target.Version
		}
		hosts = append(hosts, hv)
	}
	var legend []legendItem
	for _, c := range legendOrder {
		if count[c] > 0 {
			legend = append(legend, legendItem{Class: c, Label: labels[c], N: count[c]})
		}
	}
	return hosts, legend
}

// ago renders d as people read a last-seen time: 5s, 3m, 2h, 4d.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// historyOf says what each version of a channel's history was: a
// publication, the bytes of an older version put back (a rollback, or a
// publication of the same bytes again), a delete, or a plain upload.
func historyOf(vs []release.Version) []historyView {
	out := make([]historyView, 0, len(vs))
	for i, v := range vs {
		h := historyView{V: v, When: v.LastModified, What: "published"}
		m := v.Manifest
		switch {
		case v.DeleteMarker:
			h.What = "deleted"
		case m == nil:
			h.What = "plain upload (no manifest)"
		default:
			h.Version, h.SHA, h.By, h.Signer = m.Version, m.SHA256, m.Publisher, cmp.Or(m.KeyID, "unsigned")
			for _, older := range vs[i+1:] {
				if older.Manifest != nil && older.Manifest.SHA256 == m.SHA256 {
					h.What = "put back (rollback)"
					break
				}
			}
		}
		out = append(out, h)
	}
	return out
}

// render executes the named template with data.
func (s *Server) render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}
