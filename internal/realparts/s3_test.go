package realparts

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

func TestS3ServerStopsByPID(t *testing.T) {
	if os.Getenv(EnvS3Endpoint) != "" {
		t.Skip("external S3 endpoint: nothing to stop")
	}
	srv, err := StartS3()
	if errors.Is(err, ErrNoVersityGW) && os.Getenv("CI") != "true" {
		t.Skipf("%v; install it with %s", err, VersityGWInstall)
	}
	if err != nil {
		t.Fatal(err)
	}
	pid := srv.PID()
	if pid == 0 {
		t.Fatal("no PID")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("versitygw (pid %d) still running after Close", pid)
	}
}
