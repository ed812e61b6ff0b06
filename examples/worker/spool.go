package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/debfleet/debfleet/restart"
)

// claimBatch bounds how many directory entries one claim reads: a spool
// with a million waiting jobs must not cost a million entries per job.
const claimBatch = 64

// spool is a job queue in a directory, shared by every generation of the
// worker:
//
//	new/NAME          a job waiting (producers write it elsewhere and rename it in)
//	claimed/PID/NAME  the job the generation with that PID is running
//	done/NAME         its result
//
// A job moves between them only by rename(2), which is atomic: when two
// generations try to claim the same job, exactly one rename succeeds.
type spool struct {
	dir  string
	mine string // claimed/<our PID>
}

// openSpool creates the spool's directories, and this generation's own.
func openSpool(dir string, pid int) (*spool, error) {
	s := &spool{dir: dir, mine: filepath.Join(dir, "claimed", strconv.Itoa(pid))}
	for _, d := range []string{s.path("new"), s.path("done"), s.mine} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open spool %s: %w", dir, err)
		}
	}
	return s, nil
}

func (s *spool) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// claim moves a waiting job into this generation's directory and returns
// its name, or "" if no job waits. Jobs are taken in directory order, not
// by age. Names starting with "." (a producer's file being written) and
// anything but regular files are left alone.
func (s *spool) claim() (string, error) {
	d, err := os.Open(s.path("new"))
	if err != nil {
		return "", fmt.Errorf("list jobs: %w", err)
	}
	defer d.Close()
	entries, err := d.ReadDir(claimBatch)
	if err != nil && len(entries) == 0 {
		return "", nil // io.EOF: an empty directory
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		err := os.Rename(s.path("new", name), filepath.Join(s.mine, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // another generation claimed it first
		}
		if err != nil {
			return "", fmt.Errorf("claim job %s: %w", name, err)
		}
		return name, nil
	}
	return "", nil
}

// claimed is the path of a job this generation has claimed.
func (s *spool) claimed(name string) string { return filepath.Join(s.mine, name) }

// finish records a claimed job's result, then drops the claim. The result
// appears whole or not at all (a temporary file renamed into done/), and
// before the claim goes: a crash in between leaves a claim whose result
// exists, which recover drops instead of running the job again.
func (s *spool) finish(name string, result []byte) error {
	tmp := s.path("done", "."+name+".tmp")
	if err := os.WriteFile(tmp, result, 0o644); err != nil {
		return fmt.Errorf("write result of job %s: %w", name, err)
	}
	if err := os.Rename(tmp, s.path("done", name)); err != nil {
		return fmt.Errorf("write result of job %s: %w", name, err)
	}
	if err := os.Remove(s.claimed(name)); err != nil {
		return fmt.Errorf("drop claim on job %s: %w", name, err)
	}
	return nil
}

// requeue puts a claimed job back for another generation to run.
func (s *spool) requeue(name string) error {
	if err := os.Rename(s.claimed(name), s.path("new", name)); err != nil {
		return fmt.Errorf("put back job %s: %w", name, err)
	}
	return nil
}

// close removes this generation's directory, empty once its last job is
// finished or put back.
func (s *spool) close() error {
	if err := os.Remove(s.mine); err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

// recover puts back the jobs of generations that died running them
// (killed, crashed): their directory names a PID that is no longer
// alive. A job whose result exists had finished: only its claim is
// dropped. A live generation's jobs, an upgrade's previous generation
// finishing its last one included, are left alone. A PID reused by an
// unrelated process keeps its jobs until a later start finds it dead.
func (s *spool) recover(log *slog.Logger) error {
	dirs, err := os.ReadDir(s.path("claimed"))
	if err != nil {
		return fmt.Errorf("recover jobs: %w", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || !d.IsDir() || s.path("claimed", d.Name()) == s.mine || restart.Alive(pid) {
			continue
		}
		if err := s.recoverFrom(s.path("claimed", d.Name()), log); err != nil {
			return err
		}
	}
	return nil
}

// recoverFrom empties and removes a dead generation's directory. Another
// generation starting at the same time may recover it too: what it moved
// first is not an error.
func (s *spool) recoverFrom(dir string, log *slog.Logger) error {
	jobs, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recover jobs from %s: %w", dir, err)
	}
	for _, j := range jobs {
		if err := s.recoverJob(dir, j.Name(), log); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recover jobs from %s: %w", dir, err)
	}
	return nil
}

// recoverJob puts back the job name claimed in a dead generation's dir, or
// drops the claim if its result exists.
func (s *spool) recoverJob(dir, name string, log *slog.Logger) error {
	claim := filepath.Join(dir, name)
	_, err := os.Stat(s.path("done", name))
	if err == nil {
		err = os.Remove(claim)
		if err == nil {
			log.Info("dropped a dead generation's claim on a finished job", "job", name, "dir", dir)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		err = os.Rename(claim, s.path("new", name))
		if err == nil {
			log.Warn("put back a dead generation's job", "job", name, "dir", dir)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recover job %s from %s: %w", name, dir, err)
	}
	return nil
}
