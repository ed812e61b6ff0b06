package testenv

import (
	"testing"

	"github.com/debfleet/debfleet/internal/realparts"
)

// StartS3Proxy starts a realparts.S3Proxy in front of the S3 endpoint (a
// base URL) for t: it records every request and injects the HTTP-level
// faults set with SetFault; it stops when t ends. For faults at the TCP
// level, put internal/testenv/tcpfault in front of its URL.
func StartS3Proxy(t testing.TB, endpoint string) *realparts.S3Proxy {
	t.Helper()
	p, err := realparts.StartS3Proxy(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
