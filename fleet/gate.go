package fleet

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/debfleet/debfleet/internal/loopback"
	"github.com/debfleet/debfleet/release"
)

// Manifest fields of a rollout gate, under release.Manifest.Extra (signed
// with the rest of the policy).
const (
	extraGateURL   = "gate-url"   // "https://alerts.example.com/api/ok"
	extraGateAlarm = "gate-alarm" // CloudWatch alarm name, "api-5xx"
)

// Limits of a gate's fields.
const (
	// MaxGateURL bounds a gate URL, in bytes.
	MaxGateURL = 2048
	// MaxAlarmName is CloudWatch's limit on an alarm name, in bytes.
	MaxAlarmName = 255
)

// Gate is what a host checks before it adopts a release in any wave
// after the first (the first wave is never gated): while the gate
// fails, the host keeps its installed release and reports StateGated. A
// gate with both fields passes when both pass. The zero Gate checks
// nothing.
//
// What a check means is fail-closed, since a gate exists to stop a bad
// release: only an HTTP 200 from URL itself (redirects are not
// followed) and an alarm in state OK pass; an alarm in ALARM or
// INSUFFICIENT_DATA, a missing alarm, another HTTP status, or a gate
// that cannot be reached in time all hold the host (see URLDecision and
// AlarmDecision).
type Gate struct {
	// URL must answer 200 to a GET: https://, or http:// to a loopback
	// host. Its query and userinfo may carry a token: they are never
	// shown (see ShownURL).
	URL string
	// Alarm names a CloudWatch alarm (metric, composite or log alarm) in
	// the agent's region, which must be in state OK.
	Alarm string
}

// IsZero reports whether g checks nothing.
func (g Gate) IsZero() bool { return g.URL == "" && g.Alarm == "" }

// Validate checks g's fields (see Gate).
func (g Gate) Validate() error {
	if g.URL != "" {
		if err := checkGateURL(g.URL); err != nil {
			return fmt.Errorf("gate URL %s: %w", ShownURL(g.URL), err)
		}
	}
	if g.Alarm != "" {
		if len(g.Alarm) > MaxAlarmName || strings.IndexFunc(g.Alarm, unicode.IsControl) >= 0 || strings.TrimSpace(g.Alarm) != g.Alarm {
			return fmt.Errorf("gate alarm %q: not a CloudWatch alarm name (1 to %d bytes, no control characters, no leading or trailing space)", g.Alarm, MaxAlarmName)
		}
	}
	return nil
}

func checkGateURL(s string) error {
	if len(s) > MaxGateURL {
		return fmt.Errorf("longer than %d bytes", MaxGateURL)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("want an https:// URL such as https://alerts.example.com/api/ok")
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		return errors.New("plain http:// off loopback: anyone on the way could open the gate; use https://")
	case u.Fragment != "":
		return errors.New("a fragment (#...) is never sent; remove it")
	}
	return nil
}

// ShownURL is how a gate URL appears in status objects, logs and errors:
// scheme://host/path, never its userinfo or query, which may carry a
// token.
func ShownURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// String describes g for people: "gate https://host/path, alarm api-5xx".
func (g Gate) String() string {
	var parts []string
	if g.URL != "" {
		parts = append(parts, ShownURL(g.URL))
	}
	if g.Alarm != "" {
		parts = append(parts, "alarm "+g.Alarm)
	}
	return "gate " + strings.Join(parts, ", ")
}

// apply records g in extra (nil when there is nothing to record and
// extra was nil).
func (g Gate) apply(m *release.Manifest) {
	delete(m.Extra, extraGateURL)
	delete(m.Extra, extraGateAlarm)
	if g.IsZero() {
		return
	}
	if m.Extra == nil {
		m.Extra = map[string]string{}
	}
	if g.URL != "" {
		m.Extra[extraGateURL] = g.URL
	}
	if g.Alarm != "" {
		m.Extra[extraGateAlarm] = g.Alarm
	}
}

// gateOf reads the gate recorded in m (the zero Gate when none).
func gateOf(m *release.Manifest) Gate {
	return Gate{URL: m.Extra[extraGateURL], Alarm: m.Extra[extraGateAlarm]}
}

// ErrGateOneWave: a policy with a gate and a single wave; the first wave
// is never gated, so the gate would never be checked.
var ErrGateOneWave = errors.New("rollout policy: a gate is checked before each wave after the first, and this policy has one wave: give it at least two")

// validGate checks p's gate against the rest of p: the first wave is
// never gated, so a gate needs waves after it.
func (p Policy) validGate() error {
	if p.Gate.IsZero() {
		return nil
	}
	if !p.Staged() {
		return ErrGateOneWave
	}
	if err := p.Gate.Validate(); err != nil {
		return fmt.Errorf("rollout policy: %w", err)
	}
	return nil
}

// Gated reports whether a host that adopts r at now must pass its gate
// first: r has one and the wave in force is not the first.
func (r *Rollout) Gated(now time.Time) bool {
	return !r.Gate.IsZero() && r.WaveAt(now).Index >= 1
}

// GateRetry is how soon a host asks a gate again after a check that got
// no answer (unreachable, timed out, throttled, an AWS error), when the
// wave interval is longer: CloudWatch throttles DescribeAlarms (9 per
// second per account and region by default), and a host throttled at a
// wave's start must not wait a whole wave interval for it.
const GateRetry = time.Minute

// GateCheck is what a host remembers of its last check of a release's
// gate, so that it asks the gate at most once per wave and once per wave
// interval (see GateCheck.Due).
type GateCheck struct {
	// SHA256 is the release's; Wave the index of the wave in force.
	SHA256 string
	Wave   int
	// At is when the gate was asked; Decision what it answered (Adopt
	// when it passed).
	At       time.Time
	Decision Decision
	// Answered is false when the check got no answer (see GateRetry).
	Answered bool
}

// Due decides whether a host that last checked the gate as c (nil:
// never) must ask r's gate again at now, and otherwise returns what it
// decided then. A gate that passed opens the rest of its wave. One that
// answered no (a status other than 200, an alarm not OK) is asked again
// once a new wave is in force or a wave interval has passed, whichever
// comes first; one that gave no answer, after GateRetry if that is
// sooner. So a host asks once per wave while the gate passes, at most
// once per wave interval (plus once at a wave's start) while it says no,
// and at most once per GateRetry while it cannot be read.
func (c *GateCheck) Due(r *Rollout, now time.Time) (Decision, bool) {
	if !r.Gated(now) {
		return adopt, false
	}
	if c == nil || c.SHA256 != r.SHA256 || c.Wave != r.WaveAt(now).Index {
		return Decision{}, true
	}
	again := r.WaveInterval
	if !c.Answered {
		again = min(again, GateRetry)
	}
	if c.Decision.Verdict == Adopt || now.Sub(c.At) < again {
		return c.Decision, false
	}
	return Decision{}, true
}

// URLDecision is what a gate URL's answer means: status is the HTTP
// status it answered, or err why there was no answer (err's text must
// not contain the URL: see ShownURL). Only 200 passes.
func URLDecision(gateURL string, status int, err error) Decision {
	shown := ShownURL(gateURL)
	switch {
	case err != nil:
		return Decision{Gated, fmt.Sprintf("gate %s could not be reached (%v); waiting, as for a failing gate", shown, err)}
	case status == http.StatusOK:
		return adopt
	case status >= 300 && status < 400:
		return Decision{Gated, fmt.Sprintf("gate %s answered %d (a redirect, not followed: the gate must answer 200 itself)", shown, status)}
	}
	return Decision{Gated, fmt.Sprintf("gate %s answered %d", shown, status)}
}

// Alarm states as CloudWatch names them (StateValue).
const (
	AlarmOK               = "OK"
	AlarmAlarm            = "ALARM"
	AlarmInsufficientData = "INSUFFICIENT_DATA"
)

// AlarmDecision is what a gate alarm's state means: state is the
// alarm's StateValue, "" when CloudWatch has no alarm of that name, or
// err why it could not be read. Only OK passes.
func AlarmDecision(alarm, state string, err error) Decision {
	const what = "alarm %q "
	switch {
	case err != nil:
		return Decision{Gated, fmt.Sprintf(what+"could not be read (%v); waiting, as for an alarm in ALARM", alarm, err)}
	case state == AlarmOK:
		return adopt
	case state == "":
		return Decision{Gated, fmt.Sprintf(what+"does not exist in this host's region; waiting until it does and is OK", alarm)}
	case state == AlarmInsufficientData:
		return Decision{Gated, fmt.Sprintf(what+"is in INSUFFICIENT_DATA; only OK opens the gate (set the alarm's TreatMissingData to notBreaching if no data is good news)", alarm)}
	}
	return Decision{Gated, fmt.Sprintf(what+"is in %s", alarm, OneLine(state, 40))}
}
