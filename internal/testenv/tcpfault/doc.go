// Package tcpfault injects faults at the TCP level (resets, timeouts,
// latency, bandwidth, a cut after N bytes) between a client and a server
// in a test, with toxiproxy (github.com/Shopify/toxiproxy/v2) run in
// process. It is apart from internal/testenv so that only the tests that
// use it link toxiproxy and its dependencies.
package tcpfault
