package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/realparts"
)

// TestDashboardListen: a --listen address off loopback is refused
// without --allow-remote, and usage errors are told apart.
func TestDashboardListen(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the usage error
	}{
		{[]string{"--listen", "0.0.0.0:8080", "s3://b"}, "not a loopback address"},
		{[]string{"--listen", ":8080", "s3://b"}, "not a loopback address"},
		{[]string{"--listen", "192.0.2.1:8080", "s3://b/p/"}, "--allow-remote"},
		{[]string{"--listen", "127.0.0.1", "s3://b"}, "--listen"},
		{[]string{"b/prefix"}, "want s3://bucket[/prefix]"},
		{[]string{"s3:///x"}, "no bucket"},
		{[]string{}, "want exactly one"},
		{[]string{"--interval", "10ms", "s3://b"}, "--interval"},
	}
	for _, tt := range tests {
		_, err := runCmd(t, runDashboard, tt.args...)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("dashboard %q: %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
}

// startDashboardCmd runs pkgdeb dashboard with args until t ends and
// returns the URL it prints, and what it writes to stderr.
func startDashboardCmd(t *testing.T, args ...string) (string, *realparts.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr realparts.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDashboard(ctx, args, pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dashboard: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("dashboard still running 10s after its context ended")
		}
	})
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := pr.Read(b)
		line <- string(b[:n])
		io.Copy(io.Discard, pr)
	}()
	select {
	case l := <-line:
		m := regexp.MustCompile(`http://\S+/`).FindString(l)
		if m == "" {
			t.Fatalf("dashboard printed %q, no URL", l)
		}
		return m, &stderr
	case err := <-done:
		t.Fatalf("dashboard ended: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("dashboard printed no URL in 30s\n%s", stderr.String())
	}
	return "", nil
}

// TestDashboardStatusJSON: the dashboard's JSON endpoint answers what
// pkgdeb status --json prints for the channel.
func TestDashboardStatusJSON(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channel(t, "hello/production.deb")
	f.report(t, a, "web-1", "1.1", fleet.StateOK, "", "", time.Minute)
	f.report(t, a, "web-2", "1.0", fleet.StateRolledBack, "1.1", "health: <b>500</b>", time.Minute)
	url, _ := startDashboardCmd(t, "--listen", "127.0.0.1:0", "--interval", "500ms", "s3://"+f.bucket+"/hello/")
	status, _ := runCmd(t, runStatus, "--json", a.String())
	want := decodeSummary(t, status)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got map[string]any
	err := realparts.WaitFor(ctx, "the channel's summary", func() bool {
		resp, err := http.Get(url + "api/status?channel=" + a.String())
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return false
		}
		got = decodeSummary(t, string(b))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dashboard:\n%v\nstatus --json:\n%v", got, want)
	}
}

// decodeSummary decodes a summary without its time (two reads differ in
// it).
func decodeSummary(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	delete(m, "time")
	return m
}

// TestDashboardRemote: with --allow-remote the dashboard listens off
// loopback, warns, and answers requests naming its address.
func TestDashboardRemote(t *testing.T) {
	ip, err := realparts.NonLoopbackIP()
	if err != nil {
		t.Skipf("no address off loopback: %v", err)
	}
	srv := relS3(t)
	listen := net.JoinHostPort(ip.String(), "0")
	url, stderr := startDashboardCmd(t, "--listen", listen, "--allow-remote", "s3://"+srv.Bucket(t, true))
	if !strings.Contains(stderr.String(), "WARNING") {
		t.Errorf("no warning on stderr: %q", stderr.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", url, resp.StatusCode)
	}
}
