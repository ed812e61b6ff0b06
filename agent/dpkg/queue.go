package dpkg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultQueueDir is the host-wide queue of dpkg runs that every agent
// process on the host shares (under Root in sandbox mode).
const DefaultQueueDir = "/run/autoupdate/dpkg-queue"

const (
	// queuePoll is the pause between two looks at the tickets ahead.
	queuePoll = 100 * time.Millisecond
	// counterPoll is the pause between two tries of the counter's lock,
	// which a live process holds for a few system calls only.
	counterPoll = 5 * time.Millisecond
	// maxTickets bounds one listing of the queue directory: each agent
	// process holds at most one ticket, so thousands mean something is
	// wrong, and reading on would only cost memory.
	maxTickets = 4096
	// ticketDigits is the width of a ticket's name: zero-padded, so that
	// names sort as their numbers do.
	ticketDigits = 20
	counterName  = "counter"
	newPrefix    = ".new-"
)

// ticket is one waiter's place in the queue: a file named by its sequence
// number, held with flock(LOCK_EX) from before it has that name until it
// is removed. A ticket whose lock can be taken belongs to a process that
// died, and is stale.
type ticket struct {
	f    *os.File
	path string
	seq  uint64
}

// release leaves the queue. The name goes first, so that no one ever sees
// this ticket unlocked under its name and takes it for a dead one.
func (t *ticket) release() {
	_ = os.Remove(t.path)
	_ = t.f.Close()
}

// queueDir returns the queue's directory for d.
func (d *Dpkg) queueDir() string {
	if d.QueueDir != "" {
		return d.QueueDir
	}
	if d.Root != "" {
		return filepath.Join(d.Root, DefaultQueueDir)
	}
	return DefaultQueueDir
}

// queue takes a place in the host-wide queue and returns once every ticket
// taken before it is gone: its owner's dpkg run finished, or its owner
// died. The wait ends at deadline (wrapping ErrLocked; a zero deadline
// means do not wait) or with ctx. The caller releases the ticket once
// its dpkg run is over.
func (d *Dpkg) queue(ctx context.Context, deadline time.Time) (*ticket, error) {
	dir := d.queueDir()
	if err := prepareQueueDir(dir); err != nil {
		return nil, err
	}
	t, err := join(ctx, dir, deadline)
	if err != nil {
		return nil, err
	}
	if err := waitHead(ctx, dir, t, deadline, d.logger()); err != nil {
		t.release()
		return nil, err
	}
	return t, nil
}

// prepareQueueDir creates dir (0700) and refuses one that others could
// write: a ticket placed there by someone else could hold every agent's
// installs back.
func prepareQueueDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the dpkg queue %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("dpkg queue: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("dpkg queue %s is not a directory (%s)", dir, fi.Mode().Type())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("dpkg queue %s is writable by others (mode %s): make it 0700", dir, fi.Mode().Perm())
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("dpkg queue %s belongs to uid %d, not to this agent (uid %d)", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// join takes the next sequence number and puts a locked ticket under it.
// The counter file's lock makes numbers unique and never reused, so a
// stale ticket's name, once removed, never names a live one.
func join(ctx context.Context, dir string, deadline time.Time) (*ticket, error) {
	c, err := os.OpenFile(filepath.Join(dir, counterName), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("join the dpkg queue: %w", err)
	}
	defer c.Close() // releases the counter's lock
	if err := lockPolling(ctx, c, deadline); err != nil {
		return nil, fmt.Errorf("join the dpkg queue: %w", err)
	}
	seq, err := nextSeq(c, dir)
	if err != nil {
		return nil, fmt.Errorf("join the dpkg queue: %w", err)
	}
	// Only the counter's holder creates .new- files, so any left are a
	// dead process's.
	if names, err := listQueue(dir); err == nil {
		for _, n := range names {
			if strings.HasPrefix(n, newPrefix) {
				_ = os.Remove(filepath.Join(dir, n))
			}
		}
	}
	// The ticket is locked before it has its name: a waiter looking at
	// the queue never sees it unlocked.
	tmp := filepath.Join(dir, newPrefix+ticketName(seq))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("join the dpkg queue: %w", err)
	}
	path := filepath.Join(dir, ticketName(seq))
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		_, err = fmt.Fprintf(f, "%d\n", os.Getpid()) // for an operator looking at the queue
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		_ = f.Close()
		return nil, fmt.Errorf("join the dpkg queue: %w", err)
	}
	return &ticket{f: f, path: path, seq: seq}, nil
}

// nextSeq reads the counter, stores the next number and returns it. A
// counter lost or unreadable restarts above the highest ticket present.
func nextSeq(c *os.File, dir string) (uint64, error) {
	buf := make([]byte, 32)
	n, err := c.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read the counter: %w", err)
	}
	last, _ := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	names, err := listQueue(dir)
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		if s, ok := parseTicket(name); ok && s > last {
			last = s
		}
	}
	next := last + 1
	if err := c.Truncate(0); err != nil {
		return 0, fmt.Errorf("write the counter: %w", err)
	}
	if _, err := c.WriteAt([]byte(strconv.FormatUint(next, 10)+"\n"), 0); err != nil {
		return 0, fmt.Errorf("write the counter: %w", err)
	}
	return next, nil
}

// waitHead returns once no live ticket numbered below t is left, removing
// the stale ones it finds.
func waitHead(ctx context.Context, dir string, t *ticket, deadline time.Time, log *slog.Logger) error {
	logged := false
	for {
		ahead, err := liveAhead(dir, t.seq, log)
		if err != nil {
			return err
		}
		if ahead == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: %d dpkg run(s) of other agents on this host still ahead in the queue %s", ErrLocked, ahead, dir)
		}
		if !logged {
			log.Info("dpkg queue: waiting for other agents' dpkg runs", "ahead", ahead, "ticket", t.seq, "max_wait", time.Until(deadline).Round(time.Second))
			logged = true
		}
		tm := time.NewTimer(min(queuePoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("waiting in the dpkg queue: %w", ctx.Err())
		case <-tm.C:
		}
	}
}

// liveAhead counts the live tickets numbered below seq, and removes the
// stale ones.
func liveAhead(dir string, seq uint64, log *slog.Logger) (int, error) {
	names, err := listQueue(dir)
	if err != nil {
		return 0, err
	}
	live := 0
	for _, name := range names {
		s, ok := parseTicket(name)
		if !ok || s >= seq {
			continue
		}
		alive, err := ticketAlive(filepath.Join(dir, name), log)
		if err != nil {
			return 0, err
		}
		if alive {
			live++
		}
	}
	return live, nil
}

// ticketAlive reports whether the ticket at path is held by a live
// process; a dead one's ticket is removed.
func ticketAlive(path string, log *slog.Logger) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // released meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("dpkg queue: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("dpkg queue: lock %s: %w", path, err)
	}
	// Names are never reused (see join), so this name is the dead
	// ticket's, even if another waiter removed it first.
	var pid [24]byte
	n, _ := f.ReadAt(pid[:], 0)
	if err := os.Remove(path); err == nil {
		log.Warn("dpkg queue: removed the ticket of an agent that died waiting", "ticket", filepath.Base(path), "pid", strings.TrimSpace(string(pid[:n])))
	}
	return false, nil
}

// listQueue returns the names in dir, at most maxTickets.
func listQueue(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("dpkg queue: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(maxTickets + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("dpkg queue: list %s: %w", dir, err)
	}
	if len(names) > maxTickets {
		return nil, fmt.Errorf("dpkg queue %s holds more than %d entries: remove what is not an agent's ticket", dir, maxTickets)
	}
	return names, nil
}

// lockPolling takes f's exclusive flock, trying again every counterPoll
// until deadline or ctx ends: a stopped process holding it must not stall
// every agent for good.
func lockPolling(ctx context.Context, f *os.File, deadline time.Time) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		// The counter is held for microseconds; give at least a second
		// even when the caller does not want to wait in the queue.
		if time.Now().After(deadline.Add(time.Second)) {
			return fmt.Errorf("%w: %s stayed locked", ErrLocked, f.Name())
		}
		tm := time.NewTimer(counterPoll)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
	}
}

func ticketName(seq uint64) string { return fmt.Sprintf("%0*d", ticketDigits, seq) }

// parseTicket returns the number a ticket's name stands for.
func parseTicket(name string) (uint64, bool) {
	if len(name) != ticketDigits || strings.Trim(name, "0123456789") != "" {
		return 0, false
	}
	s, err := strconv.ParseUint(name, 10, 64)
	return s, err == nil
}
