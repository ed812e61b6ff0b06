package fleet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

func TestGateDue(t *testing.T) {
	pub := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const iv = 10 * time.Minute
	r := &Rollout{Policy: Policy{Waves: []float64{10, 50, 100}, WaveInterval: iv, Gate: Gate{Alarm: "api-5xx"}}, SHA256: "aa", PublishedAt: pub}
	failed := Decision{Gated, `alarm "api-5xx" is in ALARM`}
	for _, tc := range []struct {
		name  string
		r     *Rollout
		last  *GateCheck
		now   time.Time
		due   bool
		wantD Decision
	}{
		{"first wave is never gated", r, nil, pub.Add(time.Minute), false, adopt},
		{"clock behind the publisher: first wave", r, nil, pub.Add(-time.Hour), false, adopt},
		{"no gate", &Rollout{Policy: Policy{Waves: []float64{10, 100}, WaveInterval: iv}, SHA256: "aa", PublishedAt: pub}, nil, pub.Add(2 * iv), false, adopt},
		{"second wave, never asked", r, nil, pub.Add(iv), true, Decision{}},
		{"passed in this wave", r, &GateCheck{SHA256: "aa", Wave: 1, At: pub.Add(iv), Decision: adopt}, pub.Add(iv + 9*time.Minute), false, adopt},
		{"passed in the previous wave", r, &GateCheck{SHA256: "aa", Wave: 1, At: pub.Add(iv), Decision: adopt}, pub.Add(2 * iv), true, Decision{}},
		{"failed, within a wave interval", r, &GateCheck{SHA256: "aa", Wave: 2, At: pub.Add(2 * iv), Decision: failed, Answered: true}, pub.Add(2*iv + iv - time.Second), false, failed},
		{"failed, a wave interval ago (last wave)", r, &GateCheck{SHA256: "aa", Wave: 2, At: pub.Add(2 * iv), Decision: failed, Answered: true}, pub.Add(3 * iv), true, Decision{}},
		{"no answer, within GateRetry", r, &GateCheck{SHA256: "aa", Wave: 2, At: pub.Add(2 * iv), Decision: failed}, pub.Add(2*iv + GateRetry - time.Second), false, failed},
		{"no answer, GateRetry ago", r, &GateCheck{SHA256: "aa", Wave: 2, At: pub.Add(2 * iv), Decision: failed}, pub.Add(2*iv + GateRetry), true, Decision{}},
		{"no answer, wave interval shorter than GateRetry", &Rollout{Policy: Policy{Waves: []float64{10, 100}, WaveInterval: 20 * time.Second, Gate: Gate{URL: "https://a.example/ok"}}, SHA256: "aa", PublishedAt: pub},
			&GateCheck{SHA256: "aa", Wave: 1, At: pub.Add(time.Minute), Decision: failed}, pub.Add(time.Minute + 20*time.Second), true, Decision{}},
		{"failed, and a new wave began", r, &GateCheck{SHA256: "aa", Wave: 1, At: pub.Add(2*iv - time.Second), Decision: failed, Answered: true}, pub.Add(2 * iv), true, Decision{}},
		{"another release's check", r, &GateCheck{SHA256: "bb", Wave: 1, At: pub.Add(iv), Decision: adopt}, pub.Add(iv), true, Decision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, due := tc.last.Due(tc.r, tc.now)
			if due != tc.due || d != tc.wantD {
				t.Errorf("Due = %+v, %v; want %+v, %v", d, due, tc.wantD, tc.due)
			}
		})
	}
}

func TestGateAnswers(t *testing.T) {
	const u = "https://ops:pw@alerts.example.com/api/ok?token=s3cret"
	for _, tc := range []struct {
		name string
		d    Decision
		want string // "" for Adopt
	}{
		{"200", URLDecision(u, 200, nil), ""},
		{"503", URLDecision(u, 503, nil), "gate https://alerts.example.com/api/ok answered 503"},
		{"204 is not 200", URLDecision(u, 204, nil), "gate https://alerts.example.com/api/ok answered 204"},
		{"redirect", URLDecision(u, 302, nil), "answered 302 (a redirect, not followed"},
		{"unreachable", URLDecision(u, 0, errors.New("connection refused")), "could not be reached (connection refused); waiting"},
		{"OK", AlarmDecision("api-5xx", AlarmOK, nil), ""},
		{"ALARM", AlarmDecision("api-5xx", AlarmAlarm, nil), `alarm "api-5xx" is in ALARM`},
		{"INSUFFICIENT_DATA", AlarmDecision("api-5xx", AlarmInsufficientData, nil), `alarm "api-5xx" is in INSUFFICIENT_DATA; only OK opens the gate`},
		{"missing", AlarmDecision("api-5xx", "", nil), `alarm "api-5xx" does not exist`},
		{"unreadable", AlarmDecision("api-5xx", "", errors.New("AccessDenied")), `alarm "api-5xx" could not be read (AccessDenied)`},
		{"unknown state", AlarmDecision("api-5xx", "PENDING\nX", nil), `alarm "api-5xx" is in PENDING`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.d != adopt {
					t.Errorf("%+v, want adopt", tc.d)
				}
				return
			}
			if tc.d.Verdict != Gated || !strings.Contains(tc.d.Reason, tc.want) {
				t.Errorf("%+v, want gated: %s", tc.d, tc.want)
			}
			if strings.Contains(tc.d.Reason, "s3cret") || strings.Contains(tc.d.Reason, "pw@") || strings.Contains(tc.d.Reason, "\n") {
				t.Errorf("reason shows the URL's secrets or a newline: %q", tc.d.Reason)
			}
		})
	}
}

func TestGatePolicy(t *testing.T) {
	staged := Policy{Waves: []float64{10, 100}, WaveInterval: time.Minute}
	for _, tc := range []struct {
		name string
		gate Gate
		p    Policy
		err  string
	}{
		{"https URL", Gate{URL: "https://alerts.example.com/api/ok?token=x"}, staged, ""},
		{"loopback http", Gate{URL: "http://127.0.0.1:8080/ok"}, staged, ""},
		{"alarm and URL", Gate{URL: "https://a.example/ok", Alarm: "api 5xx"}, staged, ""},
		{"plain http off loopback", Gate{URL: "http://alerts.example.com/ok?token=x"}, staged, "plain http:// off loopback"},
		{"not a URL", Gate{URL: "alerts.example.com"}, staged, "want an https:// URL"},
		{"fragment", Gate{URL: "https://a.example/ok#x"}, staged, "fragment"},
		{"one wave", Gate{Alarm: "api-5xx"}, DefaultPolicy(), "this policy has one wave"},
		{"alarm with a newline", Gate{Alarm: "a\nb"}, staged, "not a CloudWatch alarm name"},
		{"alarm too long", Gate{Alarm: strings.Repeat("a", 256)}, staged, "not a CloudWatch alarm name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Gate = tc.gate
			err := p.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "token=") {
					t.Errorf("the error shows the URL's query: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := &release.Manifest{}
			if err := p.Apply(m); err != nil {
				t.Fatal(err)
			}
			got, err := PolicyOf(m)
			if err != nil || got.Gate != tc.gate {
				t.Errorf("PolicyOf after Apply = %+v, %v; want gate %+v", got.Gate, err, tc.gate)
			}
			// A manifest edited to carry a bad gate is refused by agents.
			m.Extra[extraGateURL] = "http://alerts.example.com/ok"
			if _, err := PolicyOf(m); err == nil {
				t.Error("PolicyOf accepted a plain http:// gate off loopback")
			}
		})
	}
}
