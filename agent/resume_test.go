package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// interrupted leaves h as an agent killed in the middle of installing the
// package p would leave it: the .deb kept and the intent saved, admitted
// with the given slots and halt-after.
func interrupted(t *testing.T, h *fleetHost, p testenv.AgentDeb, slots, haltAfter int) *state.Release {
	t.Helper()
	rel := keepDeb(t, h.inst.Dir, testenv.BuildAgentDeb(t, p), p)
	rel.Slots, rel.HaltAfter = slots, haltAfter
	if err := h.inst.Dir.Save(&state.State{Installing: rel}); err != nil {
		t.Fatal(err)
	}
	return rel
}

// An agent restarted in the middle of an install under --max-updating
// takes an update slot again while it finishes, even when the slot its
// first run held has expired meanwhile: no other host can take it, so
// the cap holds. The slot is given back once the install is done.
func TestResumeRetakesSlot(t *testing.T) {
	ch := newChannel(t)
	h := newFleetHost(t, "web-1")
	h.inst.Service = nil
	// The postinst waits for the test to look at the slots.
	p := testenv.AgentDeb{Package: "hello", Version: "2.0", Postinst: "#!/bin/sh\n" +
		"touch \"$DPKG_ROOT/tmp/in-postinst\"\n" +
		"i=0; while [ ! -e \"$DPKG_ROOT/tmp/go\" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done\n"}
	rel := interrupted(t, h, p, 1, 0)

	// The dead agent's slot, long expired.
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	if _, err := ch.fleet().AcquireLease(t.Context(), ch.addr, fleet.LeaseRequest{
		Slots: 1, Holder: h.name, Version: rel.Version, SHA256: rel.SHA256, TTL: time.Minute, Now: past,
	}); err != nil {
		t.Fatal(err)
	}

	a := h.agent(t, ch, time.Minute, nil)
	started := make(chan error, 1)
	go func() { started <- a.start(t.Context()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "the resumed postinst", func() bool {
		_, err := os.Stat(filepath.Join(h.root, "tmp/in-postinst"))
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	other := fleet.LeaseRequest{Slots: 1, Holder: "web-2", Version: rel.Version, SHA256: rel.SHA256, TTL: time.Minute}
	if l, err := ch.fleet().AcquireLease(t.Context(), ch.addr, other); !errors.Is(err, fleet.ErrNoLease) {
		t.Errorf("another host could take an update slot while %s resumed its install (err %v)", h.name, err)
		if l != nil {
			l.Release(t.Context())
		}
	}
	leases, err := ch.fleet().ReadLeases(t.Context(), ch.addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || leases[0].Record.Holder != h.name || !leases[0].Held(time.Now()) {
		t.Errorf("slots during the resumed install: %+v, want the one held by %s", leases, h.name)
	}

	if err := os.WriteFile(filepath.Join(h.root, "tmp/go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}
	if st := ch.status(t, h.name); st.State != string(OK) || st.Version != "2.0" {
		t.Errorf("after the resumed install: %s %q, want ok 2.0", st.State, st.Version)
	}
	if _, err := ch.fleet().AcquireLease(t.Context(), ch.addr, other); err != nil {
		t.Errorf("the slot was not given back after the resumed install: %v", err)
	}
}

// A resumed install that fails counts for the fleet as the first attempt
// would have: its failure is recorded and, at halt-after, halts the
// release for every other host.
func TestResumeCountsFailure(t *testing.T) {
	ch := newChannel(t)
	h := newFleetHost(t, "web-1")
	h.inst.Service = nil
	p := testenv.AgentDeb{Package: "hello", Version: "2.0", Postinst: "#!/bin/sh\necho broken >&2\nexit 1\n"}
	rel := interrupted(t, h, p, 1, 1)

	startedAgent(t, ch, h)
	if st := ch.status(t, h.name); st.State == string(OK) {
		t.Fatalf("the broken release was installed: %+v", st)
	}
	failures, err := ch.fleet().ReadFailures(t.Context(), ch.addr, rel.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || failures[0].Host != h.name {
		t.Errorf("failure records %+v, want one for %s", failures, h.name)
	}
	rec, err := ch.fleet().ReadHalt(t.Context(), ch.addr, rel.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || !rec.Halted || !rec.Auto {
		t.Errorf("halt record %+v, want the release halted by the failure (halt-after 1)", rec)
	}
}
