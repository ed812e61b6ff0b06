package dpkg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// TestMain lets the test binary be another agent process waiting in the
// queue (DPKG_QUEUE_HELPER=dir): it prints "joined", then "head" once at
// the head, and leaves the queue when its stdin closes.
func TestMain(m *testing.M) {
	dir := os.Getenv("DPKG_QUEUE_HELPER")
	if dir == "" {
		os.Exit(m.Run())
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	if err := prepareQueueDir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t, err := join(ctx, dir, deadline)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("joined %d\n", t.seq)
	if err := waitHead(ctx, dir, t, deadline, slog.New(slog.DiscardHandler)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("head")
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.release()
	os.Exit(0)
}

// queueProc is another OS process in the queue.
type queueProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	head  chan struct{} // closed when it reached the head
	done  chan struct{} // closed when its output ended: it exited
}

// leave closes the process's stdin, which makes it leave the queue, and
// waits for it to exit.
func (p *queueProc) leave(t *testing.T) {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Error("helper process did not exit within 30s of its stdin closing")
	}
}

// startQueueProc starts a helper process in the queue at dir and returns
// once it holds its ticket.
func startQueueProc(t *testing.T, dir string) *queueProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DPKG_QUEUE_HELPER="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &queueProc{cmd: cmd, stdin: stdin, head: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	joined := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch {
			case strings.HasPrefix(sc.Text(), "joined "):
				close(joined)
			case sc.Text() == "head":
				close(p.head)
			}
		}
	}()
	select {
	case <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not join the queue within 30s")
	}
	return p
}

// kill kills the process with SIGKILL and waits for it to be gone.
func (p *queueProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// TestQueueOrder: waiters, goroutines each with their own open ticket or
// separate processes, reach the head one at a time, in the order they
// joined, and none before the ticket ahead of them is released.
func TestQueueOrder(t *testing.T) {
	const n = 5
	for _, procs := range []bool{false, true} {
		t.Run(map[bool]string{false: "goroutines", true: "processes"}[procs], func(t *testing.T) {
			ctx := t.Context()
			dir := filepath.Join(t.TempDir(), "queue")
			d := &Dpkg{QueueDir: dir, Logger: slog.New(slog.DiscardHandler)}
			holder, err := d.queue(ctx, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var held atomic.Bool
			held.Store(true)
			type arrival struct {
				i          int
				holderHeld bool
			}
			heads := make(chan arrival, n)
			releases := make([]func(), n)
			for i := range n {
				if procs {
					p := startQueueProc(t, dir)
					releases[i] = func() { p.leave(t) }
					go func() {
						<-p.head
						heads <- arrival{i, held.Load()}
					}()
					continue
				}
				tk, err := join(ctx, dir, time.Now().Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				releases[i] = tk.release
				go func() {
					err := waitHead(ctx, dir, tk, time.Now().Add(time.Minute), slog.New(slog.DiscardHandler))
					if err != nil {
						t.Error(err)
					}
					heads <- arrival{i, held.Load()}
				}()
			}
			held.Store(false)
			holder.release()
			for want := range n {
				select {
				case a := <-heads:
					if a.i != want || a.holderHeld {
						t.Fatalf("waiter %d reached the head (holder still held: %v), want waiter %d after the holder's release", a.i, a.holderHeld, want)
					}
					releases[a.i]()
				case <-time.After(30 * time.Second):
					t.Fatalf("waiter %d never reached the head", want)
				}
			}
			if left := tickets(t, dir); len(left) != 0 {
				t.Errorf("tickets left after every waiter released: %v", left)
			}
		})
	}
}

// TestQueueDeadProcess: a process killed while it holds a ticket, at the
// head or waiting, does not hold the queue back; its ticket is removed.
func TestQueueDeadProcess(t *testing.T) {
	tests := []struct {
		name string
		// holder: the test holds the head, and the killed process waits
		// behind it.
		holder bool
	}{
		{"killed at the head", false},
		{"killed while waiting", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dir := filepath.Join(t.TempDir(), "queue")
			d := &Dpkg{QueueDir: dir, Logger: slog.New(slog.DiscardHandler)}
			var holder *ticket
			if tt.holder {
				var err error
				if holder, err = d.queue(ctx, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			p := startQueueProc(t, dir)
			if !tt.holder {
				<-p.head
			}
			tk, err := join(ctx, dir, time.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer tk.release()
			p.kill(t)
			if holder != nil {
				holder.release()
			}
			if err := waitHead(ctx, dir, tk, time.Now().Add(30*time.Second), slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("after the process ahead was killed: %v", err)
			}
			if left := tickets(t, dir); len(left) != 1 || left[0] != ticketName(tk.seq) {
				t.Errorf("tickets %v, want only the live one %s", left, ticketName(tk.seq))
			}
		})
	}
}

// TestQueueWaitBounded: a waiter behind a live ticket gives up at its
// deadline (ErrLocked) or when its context ends, and leaves the queue.
func TestQueueWaitBounded(t *testing.T) {
	tests := []struct {
		name     string
		lockWait time.Duration
		ctxAfter time.Duration
		want     error
	}{
		{"LockWait ends", 300 * time.Millisecond, 0, ErrLocked},
		{"no waiting", -1, 0, ErrLocked},
		{"context ends", time.Hour, 300 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "queue")
			holder, err := (&Dpkg{QueueDir: dir}).queue(t.Context(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer holder.release()
			ctx := t.Context()
			if tt.ctxAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxAfter)
				defer cancel()
			}
			d := &Dpkg{QueueDir: dir, LockWait: tt.lockWait, Logger: slog.New(slog.DiscardHandler)}
			err = d.Configure(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Configure: %v, want %v", err, tt.want)
			}
			if left := tickets(t, dir); len(left) != 1 || left[0] != ticketName(holder.seq) {
				t.Errorf("tickets %v, want only the holder's", left)
			}
		})
	}
}

// TestQueueDirRefused: a queue directory others can write is refused.
func TestQueueDirRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"world-writable", func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chmod(dir, 0o777)
		}, "writable by others"},
		{"a symlink", func(dir string) error { return os.Symlink(os.TempDir(), dir) }, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "queue")
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			_, err := (&Dpkg{QueueDir: dir}).queue(t.Context(), time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("queue: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConcurrentInstallsQueue: two agents installing into one root at
// once wait in the queue, not on dpkg's lock: the second one's install
// succeeds once the first's dpkg run is over, even though it does not
// wait for dpkg's lock at all (its retry is longer than its LockWait).
func TestConcurrentInstallsQueue(t *testing.T) {
	ctx := t.Context()
	root := testenv.DpkgRoot(t)
	// The first package's postinst runs until the test lets it go, so
	// dpkg's lock is held while the second install starts.
	slow := "#!/bin/sh\ntouch \"$DPKG_ROOT/tmp/a.running\"\ni=0\nwhile [ ! -e \"$DPKG_ROOT/tmp/a.go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
	debA := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "pa", Version: "1.0", Postinst: slow})
	debB := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "pb", Version: "1.0"})
	logs := &waitLog{logged: make(chan struct{})}
	first := &Dpkg{Root: root}
	second := &Dpkg{Root: root, LockWait: time.Minute, LockRetry: 2 * time.Minute, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	var wg sync.WaitGroup
	errA := make(chan error, 1)
	wg.Go(func() { errA <- first.Install(ctx, debA) })
	defer wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := realparts.WaitFor(wctx, "a's postinst", exists(filepath.Join(root, "tmp/a.running"))); err != nil {
		t.Fatal(err)
	}
	errB := make(chan error, 1)
	wg.Go(func() { errB <- second.Install(ctx, debB) })
	if err := realparts.WaitFor(wctx, "b to wait in the queue", func() bool { return len(tickets(t, first.queueDir())) == 2 }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/a.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"pa": errA, "pb": errB} {
		if err := <-ch; err != nil {
			t.Errorf("install %s: %v", name, err)
		}
		if got, _ := first.Query(ctx, name); !got.Installed() {
			t.Errorf("%s: %+v, want installed", name, got)
		}
	}
	if strings.Contains(logs.String(), "dpkg lock held") {
		t.Errorf("the second install waited on dpkg's lock, not in the queue:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "dpkg queue: waiting") {
		t.Errorf("the second install did not log its wait in the queue:\n%s", logs.String())
	}
}

func exists(path string) func() bool {
	return func() bool {
		_, err := os.Stat(path)
		return err == nil
	}
}

// tickets lists the ticket names in dir.
func tickets(t *testing.T, dir string) []string {
	t.Helper()
	names, err := listQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if _, ok := parseTicket(n); ok {
			out = append(out, n)
		}
	}
	return out
}
