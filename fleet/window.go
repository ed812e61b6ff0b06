package fleet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Limits of a policy's maintenance windows: they travel in the manifest,
// which S3 keeps in at most 2 KiB of user metadata with everything else.
const (
	// MaxWindows bounds the windows of a policy.
	MaxWindows = 8
	// maxWindowsField bounds their encoded form in the manifest.
	maxWindowsField = 512
)

// extraWindow is the manifest field of the maintenance windows, in their
// canonical form (Window.String), separated by ";".
const extraWindow = "window"

// Window is a recurring maintenance window: on some days of the week,
// from one wall-clock time to another, in one time zone. Its grammar
// (ParseWindow) is
//
//	DAYS START-END ZONE
//
// DAYS is "*" (every day) or a comma-separated list of days (Mon, Tue,
// Wed, Thu, Fri, Sat, Sun; any case) and ranges of days ("Mon-Fri";
// "Fri-Mon" wraps over the weekend). START and END are HH:MM on a 24-hour
// clock; END may be 24:00, and an END not after START crosses midnight
// ("Fri 22:00-02:00" is Friday 22:00 to Saturday 02:00: the days name
// the day a window opens). ZONE is an IANA time zone name
// (Europe/London, America/New_York) or UTC; it is required, so a window
// means the same on every host whatever its own zone.
//
// A window follows the zone's wall clock, minute by minute: a moment is
// inside when the clock there reads a time in [START, END) on one of the
// days. So on the day clocks go forward, a window in the skipped hour
// does not happen (Europe/London "Sun 01:30-02:00"), one that spans it is
// an hour shorter, and on the day they go back a window in the repeated
// hour happens twice.
type Window struct {
	days       [7]bool // by time.Weekday: the day the window opens
	daysText   string  // canonical: "Mon-Fri", "Mon,Wed,Fri", "*"
	start, end int     // minutes after midnight; end in (0, 1440]
	zone       *time.Location
}

var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// ParseWindow parses one maintenance window (see Window for the grammar),
// loading its time zone with time.LoadLocation; the error says what is
// wrong and shows a valid window.
func ParseWindow(s string) (Window, error) {
	w, err := parseWindow(s)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: %w (want DAYS HH:MM-HH:MM ZONE, e.g. \"Mon-Fri 09:00-17:00 Europe/London\")", s, err)
	}
	return w, nil
}

func parseWindow(s string) (Window, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Window{}, fmt.Errorf("%d space-separated parts, want 3", len(f))
	}
	var w Window
	var err error
	if w.daysText, err = parseDays(f[0], &w.days); err != nil {
		return Window{}, err
	}
	from, to, ok := strings.Cut(f[1], "-")
	if !ok {
		return Window{}, fmt.Errorf("times %q: want START-END, e.g. 09:00-17:00", f[1])
	}
	if w.start, err = parseClock(from, false); err != nil {
		return Window{}, err
	}
	if w.end, err = parseClock(to, true); err != nil {
		return Window{}, err
	}
	if w.end == 0 {
		w.end = 24 * 60 // "22:00-00:00": to the end of the day
	}
	if w.start == w.end || (w.start == 0 && w.end == 24*60 && to != "24:00") {
		return Window{}, fmt.Errorf("times %q: start and end are the same time; a whole day is 00:00-24:00", f[1])
	}
	if w.zone, err = loadZone(f[2]); err != nil {
		return Window{}, err
	}
	return w, nil
}

// parseDays parses DAYS into days and returns its canonical text.
func parseDays(s string, days *[7]bool) (string, error) {
	if s == "*" {
		*days = [7]bool{true, true, true, true, true, true, true}
		return s, nil
	}
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, err := parseDay(from)
		if err != nil {
			return "", err
		}
		b := a
		if isRange {
			if b, err = parseDay(to); err != nil {
				return "", err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
		canon := dayNames[a]
		if isRange {
			canon += "-" + dayNames[b]
		}
		items = append(items, canon)
	}
	return strings.Join(items, ","), nil
}

func parseDay(s string) (int, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or *", s)
}

// parseClock parses HH:MM into minutes after midnight; 24:00 only as an
// end.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hh)
	m, merr := strconv.Atoi(mm)
	switch {
	case !ok || len(hh) != 2 || len(mm) != 2 || herr != nil || merr != nil:
		return 0, fmt.Errorf("time %q: want HH:MM on a 24-hour clock, e.g. 09:00", s)
	case h == 24 && m == 0 && end:
		return 24 * 60, nil
	case h > 23 || m > 59 || h < 0 || m < 0:
		return 0, fmt.Errorf("time %q: out of range (00:00 to 23:59; 24:00 only as an end)", s)
	}
	return h*60 + m, nil
}

// loadZone loads an IANA zone by name. "Local" is refused: it would mean
// each host's own zone.
func loadZone(name string) (*time.Location, error) {
	for _, r := range name {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-", r) {
			return nil, fmt.Errorf("time zone %q: not an IANA time zone name (e.g. Europe/London, America/New_York, UTC)", name)
		}
	}
	if name == "" || strings.EqualFold(name, "local") {
		return nil, fmt.Errorf("time zone %q: name a zone (e.g. Europe/London or UTC), so that the window means the same on every host", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: unknown (an IANA name such as Europe/London, America/New_York or UTC): %w", name, err)
	}
	return loc, nil
}

// String is w in canonical form: "Mon-Fri 09:00-17:00 Europe/London".
func (w Window) String() string {
	return fmt.Sprintf("%s %s-%s %s", w.daysText, clock(w.start), clock(w.end), w.zone)
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Inside reports whether t is inside w (see Window for the wall-clock
// rule).
func (w Window) Inside(t time.Time) bool {
	lt := t.In(w.zone)
	m, d := lt.Hour()*60+lt.Minute(), int(lt.Weekday())
	if w.start < w.end {
		return w.days[d] && m >= w.start && m < w.end
	}
	return (w.days[d] && m >= w.start) || (w.days[(d+6)%7] && m < w.end)
}

// NextOpen returns the first moment from now on that is inside w: now
// itself when it is inside, else the time the window next opens, which
// is its start on one of the next 8 days, or a daylight-saving
// transition that jumps the clock into it. Zero when w never opens
// (no days; ParseWindow makes none).
func (w Window) NextOpen(now time.Time) time.Time {
	if w.Inside(now) {
		return now
	}
	var best time.Time
	consider := func(c time.Time) {
		if c.After(now) && w.Inside(c) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	lt := now.In(w.zone)
	for i := -1; i <= 8; i++ {
		consider(time.Date(lt.Year(), lt.Month(), lt.Day()+i, w.start/60, w.start%60, 0, 0, w.zone))
	}
	// A start in a skipped hour opens the window at the transition.
	t, limit := lt, lt.AddDate(0, 0, 9)
	for range 40 {
		_, next := t.ZoneBounds()
		if next.IsZero() || next.After(limit) {
			break
		}
		consider(next)
		t = next
	}
	return best
}

// ParseWindows parses the windows a policy carries.
func ParseWindows(specs []string) ([]Window, error) {
	var out []Window
	for _, s := range specs {
		w, err := ParseWindow(s)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := validWindows(out); err != nil {
		return nil, err
	}
	return out, nil
}

func validWindows(ws []Window) error {
	if len(ws) > MaxWindows {
		return fmt.Errorf("%d maintenance windows, at most %d", len(ws), MaxWindows)
	}
	if n := len(FormatWindows(ws)); n > maxWindowsField {
		return fmt.Errorf("maintenance windows take %d bytes in the manifest, at most %d (S3 keeps 2 KiB of metadata per release)", n, maxWindowsField)
	}
	for _, w := range ws {
		if w.zone == nil {
			return errors.New("a maintenance window without a time zone")
		}
	}
	return nil
}

// FormatWindows joins windows in canonical form with "; " (the manifest
// field and the text people read).
func FormatWindows(ws []Window) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, "; ")
}

// parseWindowsField reads the manifest field written by FormatWindows.
func parseWindowsField(s string) ([]Window, error) {
	return ParseWindows(strings.Split(s, ";"))
}

// InWindow is the window decision: with no windows, or inside one of
// them at now, Adopt; else Wait, saying which windows and when the next
// opens (returned as opens, zero when none ever does). No request.
func (p Policy) InWindow(now time.Time) (d Decision, opens time.Time) {
	if len(p.Windows) == 0 {
		return adopt, time.Time{}
	}
	for _, w := range p.Windows {
		o := w.NextOpen(now)
		if o.Equal(now) {
			return adopt, time.Time{}
		}
		if !o.IsZero() && (opens.IsZero() || o.Before(opens)) {
			opens = o
		}
	}
	what := "the maintenance window " + FormatWindows(p.Windows)
	if len(p.Windows) > 1 {
		what = "every maintenance window (" + FormatWindows(p.Windows) + ")"
	}
	reason := "outside " + what
	if !opens.IsZero() {
		reason += "; next opens " + opens.UTC().Format(time.RFC3339)
	}
	return Decision{Wait, reason}, opens
}

// SetWindows returns an edit of a manifest (a release.PromoteInput.Edit)
// that gives its rollout policy the windows ws, none when ws is empty,
// and keeps the rest of the policy.
func SetWindows(ws []Window) func(m *release.Manifest) error {
	return func(m *release.Manifest) error {
		p, err := PolicyOf(m)
		if err != nil {
			return err
		}
		p.Windows = ws
		return p.Apply(m)
	}
}
