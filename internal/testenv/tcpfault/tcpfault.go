package tcpfault

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Proxy forwards every byte between its clients and one server unless a
// toxic is in the way.
type Proxy struct {
	// URL is the server's URL with the proxy's address: where clients
	// connect.
	URL string

	tcp *toxiproxy.Proxy
}

// Start starts a proxy in front of the server at target, a URL such as
// http://127.0.0.1:8080; it stops when t ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	tcp := toxiproxy.NewProxy(server, "tcpfault", "127.0.0.1:0", u.Host)
	if err := tcp.Start(); err != nil {
		t.Fatalf("start toxiproxy: %v", err)
	}
	t.Cleanup(tcp.Stop)
	u.Host = tcp.Listen
	return &Proxy{URL: u.String(), tcp: tcp}
}

// Toxic is one of toxiproxy's toxics: a fault such as "reset_peer",
// "timeout", "latency", "bandwidth" or "limit_data" with its attributes,
// on the "upstream" (client to server) or "downstream" stream. Toxiproxy's
// README lists the types and their attributes.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Attributes map[string]any `json:"attributes"`
}

// Add puts toxic on every connection, open or new, until Heal.
func (p *Proxy) Add(t testing.TB, toxic Toxic) {
	t.Helper()
	b, err := json.Marshal(toxic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.tcp.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		t.Fatalf("add toxic %s: %v", toxic.Name, err)
	}
}

// Cut resets every connection as soon as the client sends on it, before
// any byte reaches the server: requests get no answer at all, as in a
// network outage, until Heal.
func (p *Proxy) Cut(t testing.TB) {
	t.Helper()
	p.Add(t, Toxic{Name: "cut", Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}})
}

// Heal removes every toxic.
func (p *Proxy) Heal() {
	p.tcp.Toxics.ResetToxics(context.Background())
}
