package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// TestOnceCompletesLifecycleAction runs the built binary as the first
// boot of an Auto Scaling instance does: autoupdate --once
// --lifecycle-hook against versitygw, a dpkg sandbox root, and stand-ins
// for IMDSv2 (instance ID, group tag, region) and Auto Scaling (which
// checks each request's SigV4 signature with the same credentials as S3,
// for the region the metadata names). A good release CONTINUEs with exit
// 0; a release whose service fails its health check, on a new host with
// nothing to roll back to, ABANDONs with exit 1. No credential or IMDS
// token shows in the output.
func TestOnceCompletesLifecycleAction(t *testing.T) {
	srv := s3env.Server(t)
	bin, err := realparts.BuildGo(t.Context(), t.TempDir(), "autoupdate", ".", "")
	if err != nil {
		t.Fatal(err)
	}
	key, pubPath := newKeyPair(t)
	tests := []struct {
		name     string
		version  string
		timeout  string // --health-timeout: long when the service must prove healthy under load
		result   string
		exit     int
		logLines []string
	}{
		{"healthy release", "1.0", "30s", "CONTINUE", 0, []string{"release installed", "result=CONTINUE", "lifecycle action completed"}},
		{"release failing health", "2.0", "2s", "ABANDON", 1, []string{"result=ABANDON", "lifecycle action completed", "lifecycle action abandoned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: tt.version}, key)
			creds := aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, SessionToken: srv.SessionToken}
			as := testenv.AutoScaling(t, creds, "eu-west-3")
			action := testenv.LifecycleAction{Group: "web-asg", Hook: "debfleet-launch", InstanceID: "i-0123456789abcdef0"}
			as.Launch(action)
			md := testenv.IMDS(t, map[string]string{"instance-id": action.InstanceID,
				"tags/instance/aws:autoscaling:groupName": action.Group, "placement/region": "eu-west-3"})
			root := testenv.DpkgRoot(t)
			health := startVersionedService(t, "1.0")

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--once", "--lifecycle-hook", action.Hook,
				"--source", source, "--package", "hello", "--state-dir", t.TempDir(), "--dpkg-root", root, "--host", "web-1",
				"--public-key", pubPath, "--endpoint", srv.Endpoint, "--env-file", os.DevNull,
				"--reload-cmd", health.reloadCmd(root), "--health-url", health.URL+"/healthz", "--health-timeout", tt.timeout)
			cmd.Env = append(os.Environ(), srv.Env()...)
			cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_AUTO_SCALING="+as.URL, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+md.URL,
				"AWS_EC2_METADATA_DISABLED=false", "AWS_ENDPOINT_URL=")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.exit {
				t.Errorf("exit %d, want %d\n%s", code, tt.exit, out)
			}
			if got := as.Result(action); got != tt.result {
				t.Errorf("lifecycle action completed with %q, want %s\n%s", got, tt.result, out)
			}
			for _, w := range tt.logLines {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for name, secret := range map[string]string{"secret key": srv.SecretKey, "session token": srv.SessionToken, "IMDS token": md.Token()} {
				if secret != "" && strings.Contains(string(out), secret) {
					t.Errorf("the output shows the %s:\n%s", name, out)
				}
			}
			if n, reqs := len(as.Calls()), len(md.Requests()); n != 1 || reqs != 4 {
				t.Errorf("%d Auto Scaling and %d IMDS requests; want 1 and 4 (token, instance ID, group tag, region)", n, reqs)
			}
		})
	}
}

// versionedService is a stand-in service whose health depends on the
// version the reload command started: healthy only on the versions
// given.
type versionedService struct {
	URL, running string
}

func startVersionedService(t *testing.T, healthy ...string) *versionedService {
	t.Helper()
	s := &versionedService{running: filepath.Join(t.TempDir(), "running")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(s.running)
		for _, v := range healthy {
			if strings.TrimSpace(string(b)) == v {
				return
			}
		}
		http.Error(w, "unhealthy on "+string(b), http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// reloadCmd "restarts" the service: it runs the installed package's
// program, which prints its version, as the running one.
func (s *versionedService) reloadCmd(root string) string {
	return filepath.Join(root, "usr/bin/hello") + " > " + s.running
}
