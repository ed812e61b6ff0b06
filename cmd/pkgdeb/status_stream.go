package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// defaultHosts is how many hosts pkgdeb status lists unless --hosts says
// otherwise: a screenful or two of the hosts worth looking at, and every
// host of a small fleet.
const defaultHosts = 100

// rowsPerBlock is how many rows of a streamed host table are aligned
// together: a tabwriter holds its rows until flushed.
const rowsPerBlock = 1000

// tuneGC makes the garbage collector run less often than Go's default
// while pkgdeb status reads, unless GOGC or GOMEMLIMIT say otherwise.
// What status keeps is small and does not grow with the fleet (a listing
// page, the objects being read, the hosts it lists), so at GOGC=100 the
// collector ran every few MB of garbage and took a fifth of the CPU of a
// 10,000-host read (bench-status: 2.9-3.2 CPU s at 100, 2.3-2.5 at 400,
// peak RSS 33 then 49 MiB). The soft limit keeps the peak bounded when
// hosts write large objects; keep is what the caller holds besides
// (--watch's cache: about 500 bytes a host), which the limit must leave
// room for, or the collector runs without end (a first refresh of
// 100,000 hosts took 33 s instead of 17 s).
func tuneGC(keep int64) {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(96<<20 + keep)
	}
}

// hostsFlag is --hosts: a number of hosts, or all of them.
type hostsFlag struct {
	n   int
	all bool
}

func (h *hostsFlag) String() string {
	if h.all {
		return "all"
	}
	return strconv.Itoa(h.n)
}

func (h *hostsFlag) Set(v string) error {
	if v == "all" {
		h.all = true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return errors.New("want a number of hosts (0 or more) or all")
	}
	h.n, h.all = n, false
	return nil
}

// writeError is a failure to write pkgdeb status's output (a closed
// pipe): --watch stops on it rather than reading again.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write status: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// statusOutput prints one reading of pkgdeb status after another: the
// summary as a table or JSON, and with all, every host as it is read
// (host) before the summary.
type statusOutput struct {
	w                        io.Writer
	json, indent, clear, all bool

	// One reading's streamed hosts.
	begun bool
	rows  int
	now   time.Time
	tw    *tabwriter.Writer
}

// start readies o for a new reading.
func (o *statusOutput) start() {
	o.begun, o.rows, o.tw = false, 0, nil
}

// begin writes what comes before the first host: the screen cleared,
// the table's header or the JSON's opening.
func (o *statusOutput) begin() error {
	if o.begun {
		return nil
	}
	o.begun, o.now = true, time.Now()
	if o.clear {
		fmt.Fprint(o.w, "\x1b[H\x1b[2J")
	}
	if !o.all {
		return nil
	}
	if o.json {
		return o.write(map[bool]string{true: "{\n  \"hosts\": [", false: "{\"hosts\":["}[o.indent])
	}
	o.tw = tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	_, err := fmt.Fprintln(o.tw, "HOST\tVERSION\tCONFIG\tSTATE\tCURRENT\tLAST SEEN\tTARGET\tERROR")
	return wrapWrite(err)
}

// host writes h, one host of a streamed reading: a row, or an element
// of the JSON's "hosts".
func (o *statusOutput) host(h *fleet.HostSummary) error {
	if err := o.begin(); err != nil {
		return err
	}
	o.rows++
	if o.json {
		sep := ""
		if o.rows > 1 {
			sep = ","
		}
		if !o.indent {
			text, err := jsonText(h, "", false)
			if err != nil {
				return err
			}
			return o.write(sep + text)
		}
		text, err := jsonText(h, "    ", true)
		if err != nil {
			return err
		}
		return o.write(sep + "\n    " + text)
	}
	config := func(h fleet.HostSummary) string {
		if h.Config == nil {
			return "-\t"
		}
		return visible(h.Config.Version) + "\t"
	}
	if _, err := fmt.Fprintln(o.tw, hostRow(h, o.now, config)); err != nil {
		return wrapWrite(err)
	}
	if o.rows%rowsPerBlock == 0 {
		return wrapWrite(o.tw.Flush())
	}
	return nil
}

// abort ends a reading that failed: what was streamed is flushed.
func (o *statusOutput) abort() {
	if o.tw != nil {
		o.tw.Flush()
	}
	if o.begun && o.all {
		fmt.Fprintln(o.w)
	}
}

// summary writes r, the end of a reading.
func (o *statusOutput) summary(r *fleet.Summary) error {
	if err := o.begin(); err != nil {
		return err
	}
	switch {
	case o.all && o.json:
		r.HostsOmitted = 0 // every one was written
		return o.jsonTail(r)
	case o.json:
		if err := writeJSON(o.w, r, o.indent); err != nil {
			return wrapWrite(err)
		}
		return nil
	case o.all:
		r.HostsOmitted = 0
		if err := o.tw.Flush(); err != nil {
			return wrapWrite(err)
		}
		fmt.Fprintln(o.w)
	}
	printStatus(o.w, r)
	return nil
}

// summaryTail is a Summary without its hosts, written after them.
type summaryTail struct {
	*fleet.Summary
	// Hosts hides Summary.Hosts (the shallower field wins), and, empty,
	// is left out.
	Hosts json.RawMessage `json:"hosts,omitempty"`
}

// jsonTail closes the streamed "hosts" and writes r's other fields.
func (o *statusOutput) jsonTail(r *fleet.Summary) error {
	text, err := jsonText(summaryTail{Summary: r}, "", o.indent)
	if err != nil {
		return err
	}
	if !o.indent {
		return o.write("]," + strings.TrimPrefix(text, "{") + "\n")
	}
	end := "],\n"
	if o.rows > 0 {
		end = "\n  ],\n"
	}
	return o.write(end + strings.TrimPrefix(text, "{\n") + "\n")
}

func (o *statusOutput) write(s string) error {
	_, err := io.WriteString(o.w, s)
	return wrapWrite(err)
}

// jsonText is v as writeJSON writes it, indented by prefix, without the
// final newline.
func jsonText(v any, prefix string, indent bool) (string, error) {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, prefix, "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return "", err
	}
	return escapeRunes(string(b), func(r rune) bool { return r < 0x7f || strconv.IsPrint(r) }, jsonEscape), nil
}

func wrapWrite(err error) error {
	if err == nil {
		return nil
	}
	return &writeError{err}
}
