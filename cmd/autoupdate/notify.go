package main

import (
	"fmt"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/notify"
	"github.com/debfleet/debfleet/release"
)

// hostMessage is what --notify-url receives: the host's status object as
// reported, in the fields a reader needs, and a line of text for Slack or
// Mattermost. The JSON field names are a stable interface; none is one a
// chat webhook acts on ("channel", "username", "type", ...).
type hostMessage struct {
	// Event is the host's state: failed, rolled-back or refused.
	Event   string             `json:"event"`
	Time    time.Time          `json:"time"`
	Host    string             `json:"host"`
	Channel string             `json:"release_channel"`
	Package string             `json:"package"`
	Version string             `json:"version,omitempty"` // installed, running now
	Target  *fleet.HostRelease `json:"target,omitempty"`  // the release that failed
	Error   string             `json:"error,omitempty"`
	Refusal string             `json:"refusal,omitempty"`
	Text    string             `json:"text"`
}

// hostNotifier posts the agent's notifications (agent.Notifier) through a
// notify.Sender, which never blocks.
type hostNotifier struct {
	sender  *notify.Sender
	channel release.Address
}

// Notify implements agent.Notifier.
func (n hostNotifier) Notify(st fleet.HostStatus) {
	m := hostMessage{Event: st.State, Time: st.Time, Host: st.Host, Channel: n.channel.String(), Package: st.Package,
		Version: st.Version, Target: st.Target, Error: st.Error, Refusal: st.Refusal}
	m.Text = hostText(m)
	n.sender.Send(m)
}

// hostText says m in one line; the host wrote every string in it but the
// channel, and a release's version comes from whoever wrote the channel.
func hostText(m hostMessage) string {
	target := "a release"
	if t := m.Target; t != nil && t.Version != "" {
		target = notify.Quote(m.Package) + " " + notify.Quote(t.Version)
	}
	verb := map[string]string{fleet.StateFailed: "FAILED to install", fleet.StateRolledBack: "ROLLED BACK", fleet.StateRefused: "REFUSED"}[m.Event]
	if verb == "" {
		verb = notify.Quote(m.Event)
	}
	s := fmt.Sprintf("%s %s %s from %s: %s", notify.Quote(m.Host), verb, target, notify.Quote(m.Channel), notify.Quote(m.Error))
	if m.Version != "" {
		s += "; it runs " + notify.Quote(m.Version)
	} else {
		s += "; it runs nothing of it"
	}
	return s
}
