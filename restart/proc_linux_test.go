package restart

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name may hold spaces and parentheses; the fields are found
	// after the last ')'.
	line := "4242 (a) (b c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 130 7 3 20 0 5 0 987654 1000000 300 18446744073709551615\n"
	st, err := parseProcStat(4242, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcStat{State: 'S', PPID: 17, UserTime: 2500 * time.Millisecond, SystemTime: 1300 * time.Millisecond,
		ChildUserTime: 70 * time.Millisecond, ChildSystemTime: 30 * time.Millisecond, StartTime: 987654}
	if st != want {
		t.Errorf("parseProcStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 (a S 17", "4242 (a) S 17 1 2"} {
		if _, err := parseProcStat(4242, []byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
}

// TestAlive: a running process is alive; a zombie, a reaped process and
// nonsense PIDs are not.
func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("Alive(self) = false")
	}
	for _, pid := range []int{0, -1} {
		if Alive(pid) {
			t.Errorf("Alive(%d) = true", pid)
		}
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Unreaped, it becomes a zombie: wait for that state, not for time.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := ReadProcStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d: state %c after 30s, want Z", pid, st.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if Alive(pid) {
		t.Errorf("Alive(zombie %d) = true", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Errorf("Alive(reaped %d) = true", pid)
	}
}

// TestAliveWhileReaped: a zombie reaped while Alive reads its /proc entry
// is not reported alive. Reading /proc/PID/stat of a process being
// released fails with something other than "not exist"; Alive used to
// fall back on its earlier kill(2) then and answer true for a process
// that was already gone (the restart tests' cleanup met it under load).
func TestAliveWhileReaped(t *testing.T) {
	const rounds = 300
	for range rounds {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		reaped := make(chan error, 1)
		go func() { reaped <- cmd.Wait() }()
		var wasDead bool
		for done := false; !done; {
			select {
			case err := <-reaped:
				if err != nil {
					t.Fatal(err)
				}
				done = true
			default:
			}
			switch alive := Alive(pid); {
			case !alive:
				wasDead = true
			case wasDead:
				t.Fatalf("Alive(%d) = true after it had answered false", pid)
			}
		}
		if Alive(pid) {
			t.Fatalf("Alive(reaped %d) = true", pid)
		}
	}
}
