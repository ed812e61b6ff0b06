package agent

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// metrics are the counters and gauges the agent exposes.
type metrics struct {
	lastCheck, lastSuccess time.Time
	checkFailures          int64
	outcomes               map[string]int64
	installed              string
	installedSHA           string
}

func (a *Agent) noteCheck(at time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.metrics.lastCheck = at
	if err == nil {
		a.metrics.lastSuccess = at
	}
}

func (a *Agent) countFailure() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.metrics.checkFailures++
}

func (a *Agent) count(outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metrics.outcomes == nil {
		a.metrics.outcomes = map[string]int64{}
	}
	a.metrics.outcomes[outcome]++
}

// ServeHTTP serves the agent's metrics in the Prometheus text format:
// time of the last check and of the last successful one, failed checks,
// releases handled by outcome, and the installed release as an info
// metric labelled with its version and SHA-256.
func (a *Agent) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	m := a.metrics
	outcomes := make(map[string]int64, len(m.outcomes))
	for k, v := range m.outcomes {
		outcomes[k] = v
	}
	state := a.status.State
	a.mu.Unlock()

	var b strings.Builder
	gauge := func(name, help, typ string, lines ...string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, l := range lines {
			b.WriteString(name + l + "\n")
		}
	}
	unix := func(t time.Time) string {
		if t.IsZero() {
			return " 0"
		}
		return fmt.Sprintf(" %.3f", float64(t.UnixMilli())/1000)
	}
	gauge("autoupdate_last_check_timestamp_seconds", "When the release channel was last checked.", "gauge", unix(m.lastCheck))
	gauge("autoupdate_last_success_timestamp_seconds", "When the release channel was last checked successfully.", "gauge", unix(m.lastSuccess))
	gauge("autoupdate_check_failures_total", "Checks of the release channel that failed.", "counter", fmt.Sprintf(" %d", m.checkFailures))
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(outcomes)) {
		lines = append(lines, fmt.Sprintf("{outcome=%q} %d", k, outcomes[k]))
	}
	gauge("autoupdate_releases_total", "Releases handled, by outcome (ok, rolled-back, failed, refused).", "counter", lines...)
	gauge("autoupdate_installed_info", "The release installed and proved healthy.", "gauge",
		fmt.Sprintf("{version=%q,sha256=%q,state=%q} 1", m.installed, m.installedSHA, state))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprint(w, b.String())
}
