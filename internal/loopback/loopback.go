// Package loopback tells addresses that stay on this machine from those
// that cross a network: the rule behind every "plain http:// only on
// loopback" check (S3 and Auto Scaling endpoints, webhooks, rollout gate
// URLs), written once so that they all agree.
package loopback

import (
	"net/netip"
	"net/url"
	"strings"
)

// Host reports whether host, a URL's Hostname (no port, no brackets), is
// localhost or a loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped
// 127.x address. A trailing dot is ignored ("localhost." is localhost).
func Host(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// PlainHTTPOff reports whether raw is a plain http:// URL to a host that
// is not on loopback: requests to it cross a network unencrypted. Any
// other scheme, an empty string, and a URL that does not parse give
// false: refusing those is the caller's parser's job.
func PlainHTTPOff(raw string) bool {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	return !Host(u.Hostname())
}
