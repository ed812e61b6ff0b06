package agent

import (
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// Releases is what the agent reads of its release channel.
// *release.Client satisfies it.
type Releases interface {
	// Head returns the channel's current version (versionID "") or the
	// given one: one HEAD. obj.Manifest is nil, and obj.ManifestErr says
	// why, for an object that is not a release. (Not a conditional HEAD
	// on the ETag: a rollback that re-signs a release keeps its bytes,
	// so its ETag, and changes only its VersionId and manifest.)
	Head(ctx context.Context, a release.Address, versionID string) (*release.Object, error)
	// Fetch writes version versionID of a to w and returns its object.
	// A nil error means every byte was checked against the manifest's
	// size and SHA-256 and against S3's checksum; a difference is
	// release.ErrChecksumMismatch, a transfer cut short an error to
	// retry.
	Fetch(ctx context.Context, a release.Address, versionID string, w io.Writer) (*release.Object, error)
	// FetchPlain writes version versionID of a, which has no manifest
	// and is size bytes, to w and returns its object with the SHA-256 of
	// the bytes (obj.SHA256) and what vouched for them
	// (obj.Integrity: S3's checksum, an MD5 ETag; empty when nothing
	// did). A difference is release.ErrChecksumMismatch.
	FetchPlain(ctx context.Context, a release.Address, versionID string, size int64, w io.Writer) (*release.Object, error)
	// WrittenBefore returns the entry (version or delete marker) of a
	// written just before versionID, with S3's LastModified, or nil when
	// versionID is the first. One ListObjectVersions request.
	WrittenBefore(ctx context.Context, a release.Address, versionID string) (*release.Version, error)
}

// Fleet is what the agent reads and writes of the records it shares with
// the other hosts of its channel. *fleet.Client satisfies it; the
// contracts are its methods'.
type Fleet interface {
	// PutStatus writes this host's status object (the last write wins).
	PutStatus(ctx context.Context, channel release.Address, st *fleet.HostStatus) error
	// ReadHalt reads a release's halt record: nil when there is none.
	ReadHalt(ctx context.Context, channel release.Address, sha string) (*fleet.HaltRecord, error)
	// AcquireLease takes an update slot, or fails with fleet.ErrNoLease
	// when every slot looked at is held.
	AcquireLease(ctx context.Context, channel release.Address, req fleet.LeaseRequest) (*fleet.Lease, error)
	// ReadRolloutState reads a release's halt record and failures and
	// decides whether it is halted under haltAfter.
	ReadRolloutState(ctx context.Context, channel release.Address, sha string, haltAfter int) (*fleet.RolloutState, error)
	// ReadLeases reads update slots 0..slots-1.
	ReadLeases(ctx context.Context, channel release.Address, slots int) ([]fleet.LeaseSlot, error)
	// RecordFailure records this host's failure of a release, once.
	RecordFailure(ctx context.Context, channel release.Address, f fleet.FailureRecord) error
	// HaltIfFailed halts a release whose failures reach haltAfter and
	// returns its rollout state.
	HaltIfFailed(ctx context.Context, channel release.Address, sha, version string, haltAfter int, host string) (*fleet.RolloutState, error)
}

// Notifier is told of this host's own failures, as they are reported in
// its status object: a release that failed to install, was rolled back
// or was refused. Notify must not block: the agent calls it from its
// install loop (cmd/autoupdate queues a webhook post). It is called once
// per release and outcome, since a failed release is not retried and a
// refused one not checked again until the channel changes.
type Notifier interface {
	Notify(st fleet.HostStatus)
}

// Hold asks the service whether it holds its update now. *hold.Checker
// satisfies it. Check must return within a few seconds (it runs in the
// poll loop) and never fails: a failure to ask is an answer, held or
// not, with the reason saying so. The reason is the service's own text,
// one printable line of at most fleet.MaxHoldReason bytes.
type Hold interface {
	Check(ctx context.Context) (reason string, held bool)
}

// Packages installs Debian packages on this host. *dpkg.Dpkg satisfies
// it; its errors are the caller's to report, never retried here.
type Packages interface {
	// Architecture is the host's Debian architecture (dpkg
	// --print-architecture).
	Architecture(ctx context.Context) (string, error)
	// Configure finishes an interrupted run (dpkg --configure -a).
	Configure(ctx context.Context) error
	// Install installs the .deb at path (dpkg -i), waiting out dpkg's
	// lock.
	Install(ctx context.Context, path string) error
	// Query reports what dpkg's database says of pkg.
	Query(ctx context.Context, pkg string) (dpkg.Status, error)
}

// Service is the service an install restarts. *service.Service satisfies
// it.
type Service interface {
	// Restart makes the service run version and returns once it proves
	// healthy on it (its new PID), or fails with why; service.ErrNotRunning
	// when there is no running service to restart.
	Restart(ctx context.Context, version string) (pid int, err error)
}

// Alarms reads CloudWatch alarms, for releases whose rollout gate names
// one (see fleet.Gate). *cloudwatch.Client satisfies it.
type Alarms interface {
	// DescribeAlarms returns the alarms in.AlarmNames names, of the
	// types in.AlarmTypes (an alarm that does not exist is simply not
	// in the answer): one request, which the client retries when
	// throttled. Its error must not carry credentials.
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}
