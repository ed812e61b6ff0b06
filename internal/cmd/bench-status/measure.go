package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"
)

// command is one measured child process.
type command struct {
	label string
	argv  []string
	// fresh, when set, is a directory removed before each run (aws s3
	// sync skips the objects a previous run copied).
	fresh string
}

// result is what one command cost.
type result struct {
	label    string
	wall     time.Duration
	cpu      time.Duration // user + system, the child's own
	server   time.Duration // versitygw's CPU time meanwhile
	rssKiB   int64         // the child's peak RSS
	requests int           // S3 requests versitygw logged while it ran
	out      int64         // bytes written to stdout
	exit     int
}

// measure runs c with env, its stdout counted and dropped, and reads the
// requests it made from versitygw's access log.
func measure(ctx context.Context, c command, env []string, accessLog, work string, serverPID int) (result, error) {
	if c.fresh != "" {
		if err := os.RemoveAll(c.fresh); err != nil {
			return result{}, err
		}
	}
	before, err := countLines(accessLog)
	if err != nil {
		return result{}, err
	}
	serverBefore, err := cpuOf(serverPID)
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = env
	var out counter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.Dir = work
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	exit := 0
	if ee, ok := err.(*exec.ExitError); ok {
		exit = ee.ExitCode()
	} else if err != nil {
		return result{}, fmt.Errorf("%s: %w", c.label, err)
	}
	// pkgdeb status exits 1 when the fleet is not on the current release,
	// as the seeded one is not; anything else is a failure.
	if exit > 1 || (exit == 1 && !bytes.Contains(stderr.Bytes(), []byte("on current"))) {
		return result{}, fmt.Errorf("%s: exit %d: %s", c.label, exit, stderr.Bytes()[:min(stderr.Len(), 2000)])
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	after, err := countLines(accessLog)
	if err != nil {
		return result{}, err
	}
	serverAfter, err := cpuOf(serverPID)
	if err != nil {
		return result{}, err
	}
	return result{label: c.label, wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rssKiB: ru.Maxrss,
		requests: after - before, out: out.n, exit: exit, server: serverAfter - serverBefore}, nil
}

// counter counts what is written to it.
type counter struct{ n int64 }

func (c *counter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

// countLines counts the lines of path, 0 when it does not exist yet.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, buf := 0, make([]byte, 1<<16)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// printResults writes the table, each time as a ratio to the first
// command's.
func printResults(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\twall s\tCPU s\tversitygw CPU s\tpeak RSS MiB\tS3 requests\tstdout KiB\twall vs first\tCPU vs first\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%.2fx\t%.2fx\t\n", r.label, r.wall.Seconds(), r.cpu.Seconds(), r.server.Seconds(),
			float64(r.rssKiB)/1024, r.requests, r.out/1024, r.wall.Seconds()/rs[0].wall.Seconds(), r.cpu.Seconds()/rs[0].cpu.Seconds())
	}
	tw.Flush()
}

// cpuOf is the CPU time process pid has used (utime + stime from
// /proc/PID/stat, in clock ticks of 10 ms).
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (field 3, state).
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := bytes.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// median is the median run of rs by wall time, CPU times and requests
// each taken as their own median, with the largest peak RSS.
func median(rs []result) result {
	pick := func(key func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = key(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m := rs[0]
	m.wall = time.Duration(pick(func(r result) int64 { return int64(r.wall) }))
	m.cpu = time.Duration(pick(func(r result) int64 { return int64(r.cpu) }))
	m.server = time.Duration(pick(func(r result) int64 { return int64(r.server) }))
	m.requests = int(pick(func(r result) int64 { return int64(r.requests) }))
	m.rssKiB = slices.MaxFunc(rs, func(a, b result) int { return cmp.Compare(a.rssKiB, b.rssKiB) }).rssKiB
	return m
}
