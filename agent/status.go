package agent

import (
	"github.com/debfleet/debfleet/release"
)

// States reported in a Status, besides the Outcomes (which equal
// release.StateOK, StateRolledBack and StateFailed).
const (
	// StateNone: the agent has not installed any release yet.
	StateNone = release.StateNone
	// StateInstalling: a release is being installed right now.
	StateInstalling = release.StateInstalling
	// StateRefused: the channel's release failed verification (signature,
	// checksum, package name, architecture, replay); the host keeps
	// running its current release.
	StateRefused = release.StateRefused
)

// Status is the object each agent writes next to the release; its schema
// lives in release, so that readers (pkgdeb status) need not import the
// agent.
type Status = release.HostStatus

// StatusRelease names a release in a Status.
type StatusRelease = release.HostRelease

// StatusKey returns the key of host's status object for a channel.
func StatusKey(channel release.Address, host string) string {
	return release.StatusAddress(channel, host).Key
}
