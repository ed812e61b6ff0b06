package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// hostRows returns the host names of out's table rows, in order.
func hostRows(out string) []string {
	var rows []string
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && (strings.HasPrefix(f[0], "web-") || strings.HasPrefix(f[0], "zz-")) {
			rows = append(rows, f[0])
		}
	}
	return rows
}

// TestStatusHosts: the host table shows the most relevant hosts up to
// --hosts, says how many it leaves out, and --hosts all streams every
// host, as a table or JSON, with the same summary.
func TestStatusHosts(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/hosts.deb")
	var all, problems []string
	for i := range 120 {
		name := fmt.Sprintf("web-%03d", i)
		f.report(t, a, name, "1.1", "ok", "", "", time.Second)
		all = append(all, name)
	}
	// Named to sort last: they are shown for what they are, not by name.
	for i := range 5 {
		fail, stale := fmt.Sprintf("zz-fail-%d", i), fmt.Sprintf("zz-stale-%d", i)
		f.report(t, a, fail, "1.0", "failed", "1.1", "boom", time.Second)
		f.report(t, a, stale, "1.1", "ok", "", "", 2*time.Hour)
		problems = append(problems, fail, stale)
	}
	all = append(all, problems...)
	slices.Sort(all)
	slices.Sort(problems)

	code, out, errs := relRun(t, "status", a.String())
	rows := hostRows(out)
	if code != 1 || len(rows) != 100 || !strings.Contains(out, "... and 30 more hosts (the table shows the 100 most relevant; --hosts all lists every host)") {
		t.Errorf("default: exit %d, %d rows\n%s%s", code, len(rows), out, errs)
	}
	for _, p := range problems {
		if !slices.Contains(rows, p) {
			t.Errorf("default table lacks %s", p)
		}
	}
	if want := "5 failed: zz-fail-0 (1.1): boom; zz-fail-1 (1.1): boom"; !strings.Contains(out, want) {
		t.Errorf("verdict lacks %q:\n%s", want, out)
	}

	if _, out, _ := relRun(t, "status", "--hosts", "10", a.String()); !slices.Equal(hostRows(out), problems) {
		t.Errorf("--hosts 10: rows %v, want the problems %v", hostRows(out), problems)
	}

	code, out, errs = relRun(t, "status", "--hosts", "all", a.String())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || !slices.Equal(hostRows(out), all) || !strings.HasPrefix(lines[0], "HOST") || !strings.Contains(lines[0], "CONFIG") ||
		strings.Contains(out, "more hosts") || !strings.Contains(errs, lines[len(lines)-1]) {
		t.Errorf("--hosts all: exit %d, rows %v\n%s%s", code, hostRows(out), out, errs)
	}
	if i, j := strings.Index(out, "zz-stale-4"), strings.Index(out, "channel  s3://"); i < 0 || j < i {
		t.Errorf("--hosts all: the summary does not follow the table:\n%s", out)
	}

	var streamed, capped fleet.Summary
	_, out, _ = relRun(t, "status", "--hosts", "all", "--json", a.String())
	if err := json.Unmarshal([]byte(out), &streamed); err != nil {
		t.Fatalf("--hosts all --json is not one JSON object: %v\n%s", err, out)
	}
	_, out, _ = relRun(t, "status", "--json", a.String())
	if err := json.Unmarshal([]byte(out), &capped); err != nil {
		t.Fatal(err)
	}
	if len(streamed.Hosts) != 130 || streamed.HostsOmitted != 0 || len(capped.Hosts) != 100 || capped.HostsOmitted != 30 ||
		streamed.Counts != capped.Counts || streamed.Verdict != capped.Verdict || capped.Counts.Failed != 5 || capped.Counts.Stale != 5 {
		t.Errorf("streamed: %d hosts, %d omitted, %+v\ncapped: %d hosts, %d omitted, %+v", len(streamed.Hosts), streamed.HostsOmitted, streamed.Counts,
			len(capped.Hosts), capped.HostsOmitted, capped.Counts)
	}
	done := f.channel(t, "hello/hosts-done.deb")
	f.report(t, done, "web-1", "1.1", "ok", "", "", time.Second)
	f.report(t, done, "web-2", "1.1", "ok", "", "", time.Second)
	code, out, errs = relRun(t, "status", "--hosts", "all", "--json", "--watch", done.String())
	if err := json.Unmarshal([]byte(out), &streamed); code != 0 || err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 || len(streamed.Hosts) != 2 {
		t.Errorf("--hosts all --json --watch: exit %d, not one JSON object of 2 hosts on one line (%v):\n%s%s", code, err, out, errs)
	}

	if code, _, errs := relRun(t, "status", "--hosts", "-1", a.String()); code != 2 || !strings.Contains(errs, "want a number of hosts") {
		t.Errorf("--hosts -1: exit %d, %s", code, errs)
	}
}
