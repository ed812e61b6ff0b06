package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/restart"
)

// BenchmarkDaemonIdle runs the real daemon against a local versitygw with
// an unchanged channel and measures what idling costs: S3 requests per
// check, CPU time per check and peak RSS. Each iteration runs the daemon
// for 30 checks at a 1 s interval (no jitter); run it once:
//
//	go test -run '^$' -bench DaemonIdle -benchtime 1x ./cmd/autoupdate/
func BenchmarkDaemonIdle(b *testing.B) {
	const checks = 30
	srv := s3env.Server(b)
	bin, err := realparts.BuildGo(b.Context(), b.TempDir(), "autoupdate", ".", "")
	if err != nil {
		b.Fatal(err)
	}
	proxy := testenv.StartS3Proxy(b, srv.Endpoint)
	source := publishDeb(b, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, nil)

	for b.Loop() {
		root := testenv.DpkgRoot(b)
		cmd := exec.Command(bin, "--source", source, "--package", "hello", "--state-dir", b.TempDir(), "--dpkg-root", root,
			"--host", "bench", "--endpoint", proxy.URL, "--interval", "1s", "--jitter", "0", "--env-file", os.DevNull, "--allow-unsigned")
		cmd.Env = append(os.Environ(), srv.Env()...)
		var stderr realparts.SyncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// Wait for the first install, then count from there.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), "release installed") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				b.Fatalf("no install:\n%s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		from := time.Now()
		procStat := func() time.Duration {
			// utime+stime of the running daemon, from /proc.
			st, err := restart.ReadProcStat(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			return st.UserTime + st.SystemTime
		}
		cpu0 := procStat()
		time.Sleep(checks * time.Second)
		cpu := procStat() - cpu0
		reqs := proxy.Between(from, time.Now())
		r, h := len(reqs), 0
		for _, q := range reqs {
			if q.Method == http.MethodHead {
				h++
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
		b.ReportMetric(float64(r)/checks, "requests/check")
		b.ReportMetric(float64(h)/checks, "heads/check")
		b.ReportMetric(cpu.Seconds()/checks*1000, "cpu-ms/check")
		b.ReportMetric(100*cpu.Seconds()/(checks*time.Second).Seconds(), "%core@1s")
		b.ReportMetric(float64(rss)/1024, "peak-rss-MiB")
	}
}
