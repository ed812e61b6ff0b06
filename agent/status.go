package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/release"
)

// States reported in a Status, besides the Outcomes.
const (
	// StateNone: the agent has not installed any release yet.
	StateNone = "none"
	// StateInstalling: a release is being installed right now.
	StateInstalling = "installing"
	// StateRefused: the channel's release failed verification (signature,
	// checksum, package name, architecture, replay); the host keeps
	// running its current release.
	StateRefused = "refused"
)

// Status is the small JSON object each agent writes next to the release,
// at <key>.status/<host>.json, on every state change and as a heartbeat.
// `pkgdeb status` reads them to summarise a deploy across the fleet.
type Status struct {
	Host    string `json:"host"`
	Package string `json:"package"`
	// Version, SHA256 and VersionID describe the release installed and
	// proved healthy on the host ("" before the first one).
	Version   string `json:"version,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	// State is none, ok, installing, failed, rolled-back or refused.
	State string `json:"state"`
	// Target is the release the last change was about (the one installing,
	// failed, rolled back or refused), when it is not the installed one.
	Target *StatusRelease `json:"target,omitempty"`
	// Error says why the last change failed.
	Error string `json:"error,omitempty"`
	// Since is when State was entered; Time is when this object was
	// written (heartbeats move only Time).
	Since time.Time `json:"since"`
	Time  time.Time `json:"time"`
}

// StatusRelease names a release in a Status.
type StatusRelease struct {
	Version   string `json:"version"`
	SHA256    string `json:"sha256"`
	VersionID string `json:"version_id,omitempty"`
}

// StatusKey returns the key of host's status object for a channel.
func StatusKey(channel release.Address, host string) string {
	return channel.Key + ".status/" + path.Clean("/" + host)[1:] + ".json"
}

// putStatus writes st as host's status object. It uses the SDK client the
// release package exposes, since status objects are not releases.
func putStatus(ctx context.Context, c *release.Client, channel release.Address, st *Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	key := StatusKey(channel, st.Host)
	_, err = c.S3().PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(channel.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(b),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("write status s3://%s/%s: %w", channel.Bucket, key, err)
	}
	return nil
}
