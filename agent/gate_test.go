package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
)

// clock is a settable time for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// gateServer is a gate URL on 127.0.0.1 that answers status, counting
// requests.
type gateServer struct {
	*httptest.Server
	status, requests atomic.Int32
}

func startGateServer(t *testing.T, status int) *gateServer {
	g := &gateServer{}
	g.status.Store(int32(status))
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.requests.Add(1)
		if r.URL.Path != "/api/ok" || r.URL.Query().Get("token") != "s3cret" {
			http.Error(w, "wrong gate request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(int(g.status.Load()))
		fmt.Fprintln(w, "gate body")
	}))
	t.Cleanup(g.Close)
	return g
}

// gateAgent is h's agent on ch with the given clock and CloudWatch client.
func gateAgent(t *testing.T, ch *channel, h *fleetHost, c *clock, alarms Alarms) *Agent {
	t.Helper()
	a, err := New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: h.name, Report: true, AllowUnsigned: true,
		Interval: time.Second, Installer: h.inst, Alarms: alarms, Now: c.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGatedRollout runs real agents (dpkg sandbox roots, versitygw) on a
// clock of their own through a release with waves 50%,100% and a gate
// URL that fails, then passes: the first wave installs without asking
// the gate; the second reports gated, asking the gate once per host
// whatever the number of polls, and adopts once a wave interval later
// the gate answers 200. No status object shows the URL's token.
func TestGatedRollout(t *testing.T) {
	ch := newChannel(t)
	agents, proxy := ch.proxied(t)
	gate := startGateServer(t, http.StatusServiceUnavailable)
	u, _ := url.Parse(gate.URL)
	gateURL := "http://ops:pw0rd@" + u.Host + "/api/ok?token=s3cret"
	const interval = time.Hour
	r := ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0"}),
		fleet.Policy{Waves: []float64{50, 100}, WaveInterval: interval, Gate: fleet.Gate{URL: gateURL}})
	var first, later []*fleetHost
	for i := 0; i < 100 && (len(first) < 2 || len(later) < 3); i++ {
		name := fmt.Sprintf("gate-%02d", i)
		if r.Place(name) < 50 && len(first) < 2 {
			first = append(first, newFleetHost(t, name))
		} else if r.Place(name) >= 50 && len(later) < 3 {
			later = append(later, newFleetHost(t, name))
		}
	}
	c := &clock{t: r.PublishedAt.Add(time.Minute)}
	check := func(a *Agent, h *fleetHost, want Outcome) {
		t.Helper()
		if out, err := a.Check(t.Context()); out != want || err != nil {
			t.Fatalf("%s at %s: %q, %v; want %q", h.name, c.Now(), out, err, want)
		}
	}
	byHost := map[string]*Agent{}
	for _, h := range append(slices.Clone(first), later...) {
		byHost[h.name] = gateAgent(t, agents, h, c, nil)
		want := Outcome("")
		if slices.Contains(first, h) {
			want = OK
		}
		check(byHost[h.name], h, want)
	}
	if n := gate.requests.Load(); n != 0 {
		t.Fatalf("the gate was asked %d times in the first wave, want 0", n)
	}

	c.Set(r.PublishedAt.Add(interval + time.Minute))
	wantReason := "gate http://" + u.Host + "/api/ok answered 503"
	for _, h := range later {
		seen := len(proxy.Requests())
		for range 3 {
			check(byHost[h.name], h, "")
		}
		// Three polls: the channel's HEAD and the halt record's GET
		// each, one status PUT (gated), and one gate request.
		got, want := counts(proxy.Requests()[seen:]), map[string]int{"HEAD release": 3, "GET rollout": 3, "PUT status": 1}
		if !maps.Equal(got, want) {
			t.Errorf("%s gated for 3 polls: requests %s, want %s", h.name, describe(got), describe(want))
		}
		st := ch.status(t, h.name)
		if st.State != StateGated || st.Rollout == nil || st.Rollout.Gated != wantReason || st.Version != "" {
			t.Errorf("%s: state %s %+v version %q; want gated: %s", h.name, st.State, st.Rollout, st.Version, wantReason)
		}
	}
	if n := gate.requests.Load(); n != int32(len(later)) {
		t.Errorf("the gate was asked %d times by %d hosts polling 3 times each, want once per host", n, len(later))
	}

	// It passes now, but a host that saw it fail asks again only a wave
	// interval later (an answer, unlike no answer, is not retried after
	// fleet.GateRetry).
	gate.status.Store(http.StatusOK)
	c.Set(r.PublishedAt.Add(interval + time.Minute + fleet.GateRetry + time.Second))
	for _, h := range later {
		check(byHost[h.name], h, "")
	}
	if n := gate.requests.Load(); n != int32(len(later)) {
		t.Errorf("the gate was asked again before a wave interval passed: %d requests", n)
	}
	c.Set(r.PublishedAt.Add(2*interval + 2*time.Minute))
	for _, h := range later {
		check(byHost[h.name], h, OK)
		if st := ch.status(t, h.name); st.State != string(OK) || st.Version != "2.0" {
			t.Errorf("%s: %s on %q after the gate passed, want ok on 2.0", h.name, st.State, st.Version)
		}
	}
	if n := gate.requests.Load(); n != int32(2*len(later)) {
		t.Errorf("the gate was asked %d times, want %d (twice per gated host)", n, 2*len(later))
	}
	for host, sts := range ch.statusHistory(t) {
		b, _ := json.Marshal(sts)
		if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "pw0rd") {
			t.Errorf("%s's status objects show the gate URL's token or password: %s", host, b)
		}
	}
}

// cloudWatch is a CloudWatch endpoint on 127.0.0.1 answering
// DescribeAlarms as the SDK's protocol (Smithy RPC v2 CBOR) does, with
// the state in state ("" for no such alarm, "500" for a server error).
type cloudWatch struct {
	*httptest.Server
	state    atomic.Value
	requests atomic.Int32
	bad      atomic.Value // why the last request was wrong
}

func startCloudWatch(t *testing.T, alarm string) *cloudWatch {
	cw := &cloudWatch{}
	cw.state.Store("")
	cw.bad.Store("")
	cw.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw.requests.Add(1)
		if why := checkDescribeAlarms(r, alarm); why != "" {
			cw.bad.Store(why)
			http.Error(w, why, http.StatusBadRequest)
			return
		}
		state := cw.state.Load().(string)
		if state == "500" {
			w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
			w.Header().Set("Content-Type", "application/cbor")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InternalServiceFault"), "message": cbor.String("internal failure")}))
			return
		}
		alarms := cbor.List{}
		if state != "" {
			alarms = append(alarms, cbor.Map{"AlarmName": cbor.String(alarm), "StateValue": cbor.String(state)})
		}
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(cbor.Encode(cbor.Map{"MetricAlarms": alarms, "CompositeAlarms": cbor.List{}}))
	}))
	t.Cleanup(cw.Close)
	return cw
}

// checkDescribeAlarms says what is wrong with r as a signed DescribeAlarms
// request for alarm, of every alarm type ("" when nothing).
func checkDescribeAlarms(r *http.Request, alarm string) string {
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/DescribeAlarms":
		return "not DescribeAlarms: " + r.Method + " " + r.URL.Path
	case r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor":
		return "protocol " + r.Header.Get("Smithy-Protocol")
	case !strings.Contains(r.Header.Get("Authorization"), "/us-east-1/monitoring/aws4_request"):
		return "not signed for CloudWatch in us-east-1: " + r.Header.Get("Authorization")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return err.Error()
	}
	v, err := cbor.Decode(b)
	if err != nil {
		return "body: " + err.Error()
	}
	m, _ := v.(cbor.Map)
	names, _ := m["AlarmNames"].(cbor.List)
	types, _ := m["AlarmTypes"].(cbor.List)
	if len(names) != 1 || names[0] != cbor.String(alarm) {
		return fmt.Sprintf("AlarmNames %v, want [%s]", m["AlarmNames"], alarm)
	}
	if !slices.Contains(types, cbor.Value(cbor.String("CompositeAlarm"))) || !slices.Contains(types, cbor.Value(cbor.String("MetricAlarm"))) {
		return fmt.Sprintf("AlarmTypes %v: composite and metric alarms must be asked for", m["AlarmTypes"])
	}
	return ""
}

// TestAlarmGate runs a real agent through a release gated by a
// CloudWatch alarm served on 127.0.0.1: every state but OK holds it (as
// gated, saying why), one DescribeAlarms per wave interval (per
// fleet.GateRetry while it cannot be read), and OK lets it install.
func TestAlarmGate(t *testing.T) {
	const alarm, interval = "api-5xx", time.Hour
	ch := newChannel(t)
	cw := startCloudWatch(t, alarm)
	alarms := cloudwatch.New(cloudwatch.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDGATE", "gate-secret", ""),
		BaseEndpoint: aws.String(cw.URL), RetryMaxAttempts: 1,
	})
	r := ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0"}),
		fleet.Policy{Waves: []float64{1, 100}, WaveInterval: interval, Gate: fleet.Gate{Alarm: alarm}})
	h := newFleetHost(t, "alarm-1")
	c := &clock{t: r.PublishedAt.Add(interval)}
	a := gateAgent(t, ch, h, c, alarms)
	for i, tc := range []struct {
		state, reason string
	}{
		{"ALARM", `alarm "api-5xx" is in ALARM`},
		{"INSUFFICIENT_DATA", `alarm "api-5xx" is in INSUFFICIENT_DATA; only OK opens the gate`},
		{"", `alarm "api-5xx" does not exist in this host's region`},
		{"500", `alarm "api-5xx" could not be read (CloudWatch DescribeAlarms: `},
	} {
		cw.state.Store(tc.state)
		c.Set(r.PublishedAt.Add(time.Duration(i+1) * interval))
		for range 2 {
			if out, err := a.Check(t.Context()); out != "" || err != nil {
				t.Fatalf("alarm %q: %q, %v; want the release held", tc.state, out, err)
			}
		}
		st := ch.status(t, h.name)
		if st.State != StateGated || st.Rollout == nil || !strings.HasPrefix(st.Rollout.Gated, tc.reason) {
			t.Errorf("alarm %q: state %s %+v; want gated: %s", tc.state, st.State, st.Rollout, tc.reason)
		}
		if n := cw.requests.Load(); n != int32(i+1) {
			t.Errorf("alarm %q: %d DescribeAlarms so far, want %d (one per wave interval)", tc.state, n, i+1)
		}
	}
	// No answer (the 500 above) is asked again after fleet.GateRetry,
	// not a wave interval.
	c.Set(c.Now().Add(fleet.GateRetry))
	if out, err := a.Check(t.Context()); out != "" || err != nil {
		t.Fatalf("alarm unreadable: %q, %v; want the release held", out, err)
	}
	if n := cw.requests.Load(); n != 5 {
		t.Errorf("%d DescribeAlarms, want 5: an unread alarm is asked again after %v", n, fleet.GateRetry)
	}
	cw.state.Store("OK")
	c.Set(r.PublishedAt.Add(10 * interval))
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("alarm OK: %q, %v; want the release installed", out, err)
	}
	if why := cw.bad.Load().(string); why != "" {
		t.Errorf("a DescribeAlarms request was wrong: %s", why)
	}
}
