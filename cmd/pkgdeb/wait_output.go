package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// waitOutput shows a rollout being followed: JSON lines, a progress bar
// on a terminal with the changes above it, or one line per change.
type waitOutput struct {
	w     io.Writer
	json  bool
	tty   bool
	bar   string // the bar on screen, "" when none
	start time.Time
}

func newWaitOutput(w io.Writer, asJSON bool) *waitOutput {
	return &waitOutput{w: w, json: asJSON, tty: !asJSON && isTerminal(w), start: time.Now()}
}

// event shows one change.
func (o *waitOutput) event(e fleet.WaitEvent) {
	switch {
	case o.json:
		writeJSON(o.w, e, false)
	case o.tty:
		fmt.Fprintf(o.w, "\r\x1b[K%s\n", o.line(e))
		if o.bar != "" {
			fmt.Fprint(o.w, o.bar)
		}
	default:
		fmt.Fprintln(o.w, o.line(e))
	}
}

// line is an event's text for a terminal or a log: the elapsed time, then
// the change, with what others wrote through visible.
func (o *waitOutput) line(e fleet.WaitEvent) string {
	return fmt.Sprintf("[%5s] %s", (time.Duration(e.Elapsed) * time.Second).String(), e.Describe(visible))
}

// reading redraws the progress bar on a terminal.
func (o *waitOutput) reading(p *fleet.Progress) {
	if !o.tty {
		return
	}
	o.bar = "\r\x1b[K" + progressBar(p, time.Since(o.start))
	fmt.Fprint(o.w, o.bar)
}

// close ends the bar's line.
func (o *waitOutput) close() {
	if o.tty && o.bar != "" {
		fmt.Fprintln(o.w)
		o.bar = ""
	}
}

// progressBar renders p on one line: hosts on the release out of the
// live hosts, the wave, the failures, the time since the wait began.
func progressBar(p *fleet.Progress, elapsed time.Duration) string {
	s := p.Summary
	n := s.Counts
	const width = 30
	done := 0
	if n.Live > 0 {
		done = n.OnCurrent * width / n.Live
	}
	line := fmt.Sprintf("[%s%s] %d/%d live hosts on %s %s", strings.Repeat("#", done), strings.Repeat(".", width-done),
		n.OnCurrent, n.Live, kindPrefix(s.Current.Kind)+visible(s.Current.Package), visible(s.Current.Version))
	if ro := s.Rollout; ro != nil && ro.Of > 1 {
		line += fmt.Sprintf(" | wave %d/%d", ro.Wave, ro.Of)
	}
	line += fmt.Sprintf(" | %d failed", len(p.Failed))
	if n.Stale > 0 {
		line += fmt.Sprintf(" | %d stale", n.Stale)
	}
	return line + " | " + elapsed.Round(time.Second).String()
}
