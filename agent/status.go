package agent

import (
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// States reported in a Status, besides the Outcomes (which equal
// fleet.StateOK, StateRolledBack and StateFailed).
const (
	// StateNone: the agent has not installed any release yet.
	StateNone = fleet.StateNone
	// StateInstalling: a release is being installed right now.
	StateInstalling = fleet.StateInstalling
	// StateRefused: the channel's release failed verification (signature,
	// checksum, package name, architecture, replay); the host keeps
	// running its current release.
	StateRefused = fleet.StateRefused
)

// Status is the object each agent writes next to the release; its schema
// lives in release, so that readers (pkgdeb status) need not import the
// agent.
type Status = fleet.HostStatus

// StatusRelease names a release in a Status.
type StatusRelease = fleet.HostRelease

// StatusKey returns the key of host's status object for a channel.
func StatusKey(channel release.Address, host string) string {
	return fleet.StatusAddress(channel, host).Key
}
