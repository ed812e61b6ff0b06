package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// TestPageShowsGatedHosts: a host held by the release's rollout gate is
// a gated cell with its reason, the rollout box says how many the gate
// holds and why, and the gate URL's token appears nowhere.
func TestPageShowsGatedHosts(t *testing.T) {
	srv := s3env.Server(t)
	c := newClient(t, srv, "")
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	publish(t, c, ch, "1.0", nil)
	m := publish(t, c, ch, "1.1", &fleet.Policy{Waves: []float64{50, 100}, WaveInterval: time.Hour,
		Gate: fleet.Gate{URL: "https://alerts.example.com/api/ok?token=s3cret", Alarm: "api-5xx"}})
	reason := `alarm "api-5xx" is in ALARM`
	st := &fleet.HostStatus{Host: "web-2", Package: "hello", Version: "1.0", State: fleet.StateGated,
		Target:  &fleet.HostRelease{Version: "1.1", SHA256: m.SHA256},
		Rollout: &fleet.HostRollout{Wave: 2, Waves: 2, Percent: 100, Gated: reason}, Since: time.Now(), Time: time.Now()}
	if err := fleet.New(c.Records(), nil).PutStatus(t.Context(), ch, st); err != nil {
		t.Fatal(err)
	}
	_, url := startDashboard(t, Options{Client: c, Bucket: ch.Bucket})
	body := waitPage(t, url+"/", "GATED", 20*time.Second)
	for _, want := range []string{
		`class="cell gated"`, "held by the rollout gate",
		"1 live hosts held by the rollout gate", "alarm &#34;api-5xx&#34; is in ALARM",
		"gate https://alerts.example.com/api/ok, alarm api-5xx",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "s3cret") {
		t.Error("the page shows the gate URL's token")
	}
}
