//go:build linux

package restart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// supervise is Supervise once opts are complete and path resolved.
func supervise(ctx context.Context, opts SuperviseOptions, path string) (int, error) {
	log := opts.Logger.With("supervisor", os.Getpid())

	if err := BecomeSubreaper(); err != nil {
		return 1, fmt.Errorf("supervise: %w", err)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGUSR2,
		syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	proc, err := os.StartProcess(path, append([]string{path}, opts.Args...), &os.ProcAttr{
		Env:   opts.Env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 1, fmt.Errorf("supervise: start %s: %w", path, err)
	}
	first := proc.Pid
	// The supervisor reaps with wait4(-1) below; os.Process must not wait.
	_ = proc.Release()
	log.Info("service started", "pid", first, "path", path)

	s := &supervisor{opts: opts, log: log, status: 0}
	tick := time.NewTicker(time.Second) // a safety net should SIGCHLDs merge oddly
	defer tick.Stop()
	var killAt <-chan time.Time
	stop := func(sig syscall.Signal) {
		pids := Descendants(os.Getpid())
		log.Info("stopping service", "signal", sig.String(), "pids", pids)
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		if killAt == nil {
			killAt = time.After(opts.StopTimeout)
		}
	}
	done := ctx.Done()
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGCHLD:
			case syscall.SIGHUP, syscall.SIGUSR2:
				s.forwardUpgrade(sig.(syscall.Signal))
				continue
			default:
				stop(sig.(syscall.Signal))
				continue
			}
		case <-tick.C:
		case <-done:
			done = nil
			stop(syscall.SIGTERM)
			continue
		case <-killAt:
			pids := Descendants(os.Getpid())
			log.Error("service did not stop in time, killing", "timeout", opts.StopTimeout, "pids", pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			continue
		}
		if s.reap() {
			log.Info("service ended", "status", s.status)
			return s.status, nil
		}
	}
}

type supervisor struct {
	opts   SuperviseOptions
	log    *slog.Logger
	status int
}

// reap collects every exited child and reports whether none is left. A
// generation that exits after an upgrade has already handed its children to
// this process (the kernel reparents them before the parent becomes a
// zombie), so "no child left" means the service has ended for good.
func (s *supervisor) reap() bool {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ECHILD):
			return true
		case err != nil:
			s.log.Error("wait for service", "err", err)
			return false
		case pid <= 0:
			return false
		}
		switch {
		case ws.Exited():
			s.status = ws.ExitStatus()
		case ws.Signaled():
			s.status = 128 + int(ws.Signal())
		default:
			continue
		}
		s.log.Info("process exited", "pid", pid, "status", s.status)
	}
}

// forwardUpgrade sends sig to the current generation: the PID file's if it
// names a live process of the service, else the youngest process of the
// service.
func (s *supervisor) forwardUpgrade(sig syscall.Signal) {
	self := os.Getpid()
	pids := Descendants(self)
	target := 0
	if s.opts.PIDFile != "" {
		if pid, err := ReadPIDFile(s.opts.PIDFile); err == nil && slices.Contains(pids, pid) {
			target = pid
		}
	}
	if target == 0 {
		var newest uint64
		for _, pid := range pids {
			if st, err := ReadProcStat(pid); err == nil && st.StartTime >= newest {
				newest, target = st.StartTime, pid
			}
		}
	}
	if target == 0 {
		s.log.Warn("upgrade signal with no service process", "signal", sig.String())
		return
	}
	if err := syscall.Kill(target, sig); err != nil {
		s.log.Error("forward upgrade signal", "signal", sig.String(), "pid", target, "err", err)
		return
	}
	s.log.Info("upgrade signal forwarded", "signal", sig.String(), "pid", target)
}
