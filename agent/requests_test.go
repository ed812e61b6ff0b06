package agent

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// counts tallies requests by "METHOD kind", with realparts' kinds: the
// release (one part of it is "part"), a status object, an update slot,
// the rollout's halt and failure records, or a listing.
func counts(reqs []realparts.S3Request) map[string]int {
	m := map[string]int{}
	for _, q := range reqs {
		m[q.Method+" "+q.Kind]++
	}
	return m
}

// TestDefaultPolicyRequests pins what an install costs under the default
// policy (every host at once): the rollout machinery must add no request,
// neither the halt record's GET nor an update slot, nor a listing.
func TestDefaultPolicyRequests(t *testing.T) {
	srv := s3env.Server(t)
	// 6 MiB of incompressible bytes make a package that goes multipart
	// with 5 MiB parts (two parts).
	bin := filepath.Join(t.TempDir(), "hello")
	noise := make([]byte, 6<<20)
	rand.NewChaCha8([32]byte{}).Read(noise)
	if err := os.WriteFile(bin, noise, 0o755); err != nil {
		t.Fatal(err)
	}
	v1 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bin})
	v2 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bin})
	for _, tc := range []struct {
		name     string
		partSize int64
		// parts is the number of parts of the release (a fetch of it
		// is one GET all the same: 6 MiB is under two ranges of 5 MiB,
		// and S3's checksum of it is a full-object CRC32C, checked
		// without a HEAD per part).
		parts int
	}{
		{"single part", 64 << 20, 0},
		{"multipart", 5 << 20, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubClient, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials(), PartSize: tc.partSize})
			if err != nil {
				t.Fatal(err)
			}
			ch := &channel{srv: srv, client: pubClient, addr: release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}}
			agents, proxy := ch.proxied(t)
			h := newFleetHost(t, "web-1")
			a, err := New(Config{Channel: ch.addr, AllowUnsigned: true, Releases: agents.client, Fleet: fleetOf(agents.client), Package: "hello", Host: h.name, Report: true,
				Interval: time.Second, Installer: h.inst, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.start(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{v1, v2} {
				p := manifest(t, v, time.Now())
				if err := fleet.DefaultPolicy().Apply(p.m); err != nil {
					t.Fatal(err)
				}
				res := ch.publish(t, p)
				if res.Multipart != (tc.parts > 0) {
					t.Fatalf("published multipart = %v, want %v", res.Multipart, tc.parts > 0)
				}
				seen := len(proxy.Requests())
				if out, err := a.Check(t.Context()); out != OK || err != nil {
					t.Fatalf("install %s: %q, %v", p.m.Version, out, err)
				}
				got := counts(proxy.Requests()[seen:])
				// One HEAD of the channel finds the release, one
				// GET downloads it (by version ID), and two status
				// PUTs: installing, then ok.
				want := map[string]int{"HEAD release": 1, "GET release": 1, "PUT status": 2}
				if !maps.Equal(got, want) {
					t.Errorf("install of %s with the default policy: requests %s, want %s", p.m.Version, describe(got), describe(want))
				}
			}
		})
	}
}

// TestCappedPolicyRequests pins what an install costs under a cap on hosts
// updating at once and no halt-after: the halt record is read before and
// after taking a slot (a halt may land in between), one slot is taken,
// and nothing is listed, since failures count only under halt-after.
func TestCappedPolicyRequests(t *testing.T) {
	ch := newChannel(t)
	agents, proxy := ch.proxied(t)
	a := startedAgent(t, agents, newFleetHost(t, "web-1"))
	ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), fleet.Policy{Waves: []float64{100}, MaxUpdating: 2})
	seen := len(proxy.Requests())
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("install: %q, %v", out, err)
	}
	got := counts(proxy.Requests()[seen:])
	// The channel's HEAD and the download; the halt record read twice
	// (404); the free first slot read (404), taken and then given back
	// with conditional PUTs; two status PUTs.
	want := map[string]int{"HEAD release": 1, "GET release": 1, "GET rollout": 2,
		"GET lease": 1, "PUT lease": 2, "PUT status": 2}
	if !maps.Equal(got, want) {
		t.Errorf("install under max-updating 2: requests %s, want %s", describe(got), describe(want))
	}
}

// A halt that lands while a host takes its update slot, after its first
// look at the halt record, still stops it: under max-updating without
// halt-after, the second look is the halt record alone.
func TestHaltWhileTakingSlot(t *testing.T) {
	ch := newChannel(t)
	r := ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), fleet.Policy{Waves: []float64{100}, MaxUpdating: 2})
	agents, proxy := ch.proxied(t)
	// The halt lands just before the host's first slot PUT reaches S3.
	proxy.SetFault(realparts.Fault{Times: 1, Match: func(req *http.Request) bool {
		return req.Method == http.MethodPut && strings.Contains(req.URL.Path, ".leases/")
	}, Before: func(*http.Request) {
		if _, _, err := ch.fleet().Halt(t.Context(), ch.addr, r.SHA256, "1.0", "ops", "bad canary"); err != nil {
			t.Errorf("halt: %v", err)
		}
	}})
	h := newFleetHost(t, "web-1")
	a := startedAgent(t, agents, h)
	if out, err := a.Check(t.Context()); out == OK || err != nil {
		t.Fatalf("check: %q, %v; want the release held", out, err)
	}
	st := ch.status(t, h.name)
	if st.State != StateHalted || st.Rollout == nil || !strings.Contains(st.Rollout.Halted, "bad canary") {
		t.Errorf("status %s %+v, want halted for the bad canary", st.State, st.Rollout)
	}
	if st.Version != "" {
		t.Errorf("%s installed %q despite the halt", h.name, st.Version)
	}
	leases, err := ch.fleet().ReadLeases(t.Context(), ch.addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.Held(time.Now()) {
			t.Errorf("slot %d still held by %q after the halt", l.Slot, l.Record.Holder)
		}
	}
}

// startedAgent returns h's agent on ch, started (recovered and reported).
func startedAgent(t testing.TB, ch *channel, h *fleetHost) *Agent {
	t.Helper()
	a := h.agent(t, ch, time.Minute, nil)
	if err := a.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}

func describe(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// haltRecordsDenied picks the requests S3 refuses under
// docs/iam-agent.json, where agents may read but not write halt records:
// a PUT of a halt record, and a GET of one (no halt record exists in this
// test, and S3 answers 403 for a missing object to a caller without an
// unconditional s3:ListBucket).
func haltRecordsDenied(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/halt.json") && (r.Method == http.MethodPut || r.Method == http.MethodGet)
}

// TestHaltWithoutHaltRecordWrites: agents that may not write the halt
// record (nor tell a missing one by a 404) still stop a failing release
// at halt-after: the failure records halt it, the refused write is only
// logged, and no other host installs it.
func TestHaltWithoutHaltRecordWrites(t *testing.T) {
	const n = 5
	ch := newChannel(t)
	hosts := newFleet(t, "iam", n)
	var logs realparts.SyncBuffer
	agents, proxy := ch.proxied(t)
	proxy.SetFault(realparts.Fault{Status: http.StatusForbidden, Code: "AccessDenied", Match: haltRecordsDenied})
	r := failUnderHaltAfter(t, ch, agents, hosts, &logs)

	failures, err := ch.fleet().ReadFailures(t.Context(), ch.addr, r.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 2 {
		t.Errorf("%d failure records, want 2: %+v", len(failures), failures)
	}
	if rec, err := ch.fleet().ReadHalt(t.Context(), ch.addr, r.SHA256); err != nil || rec != nil {
		t.Errorf("halt record %+v, %v; want none (agents may not write it)", rec, err)
	}
	halted := 0
	var states []string
	for _, h := range hosts {
		st := ch.status(t, h.name)
		states = append(states, fmt.Sprintf("%s %s %+v %q %+v", h.name, st.State, st.Target, st.Error, st.Rollout))
		if st.Version != "1.0" {
			t.Errorf("%s runs %q, want 1.0", h.name, st.Version)
		}
		if st.State == StateHalted {
			halted++
			if st.Rollout == nil || !strings.Contains(st.Rollout.Halted, "2 hosts failed (halt-after 2)") {
				t.Errorf("%s: halted with %+v; want the failure count as the reason", h.name, st.Rollout)
			}
		}
	}
	if halted != n-2 {
		t.Errorf("%d hosts report the release halted, want %d:\n%s\n%s", halted, n-2, strings.Join(states, "\n"), logs.String())
	}
	if !strings.Contains(logs.String(), "could not check whether the release is halted") {
		t.Errorf("the refused halt write was not logged:\n%s", logs.String())
	}
}
