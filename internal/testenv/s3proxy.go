package testenv

import (
	"net/netip"
	"testing"

	"github.com/debfleet/debfleet/internal/realparts"
)

// StartS3Proxy starts a realparts.S3Proxy on 127.0.0.1 in front of the S3
// endpoint (a base URL) for t: it records every request and injects the
// HTTP-level faults set with SetFault; it stops when t ends. For faults at
// the TCP level, put internal/testenv/tcpfault in front of its URL.
func StartS3Proxy(t testing.TB, endpoint string) *realparts.S3Proxy {
	t.Helper()
	return startS3Proxy(t, endpoint, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
}

// StartS3ProxyOffLoopback is StartS3Proxy listening on an address of this
// machine that is not a loopback one (realparts.NonLoopbackIP), so that
// its plain http:// URL is one release.New refuses without
// AllowInsecureEndpoint. It skips t when there is no such address.
func StartS3ProxyOffLoopback(t testing.TB, endpoint string) *realparts.S3Proxy {
	t.Helper()
	ip, err := realparts.NonLoopbackIP()
	if err != nil {
		t.Skipf("no address off loopback to listen on: %v", err)
	}
	return startS3Proxy(t, endpoint, ip)
}

func startS3Proxy(t testing.TB, endpoint string, ip netip.Addr) *realparts.S3Proxy {
	t.Helper()
	p, err := realparts.StartS3ProxyOn(endpoint, ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
