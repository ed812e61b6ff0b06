// Package agent is the decision loop that runs on every server: notice a
// new release, verify it, install it with dpkg, restart the service, wait
// for proof of health, and put the previous release back by itself when the
// new one is bad.
//
// An Agent follows one release channel. Run checks at once, then every
// Interval +/- Jitter: one HEAD, which costs nothing more when its
// VersionId and ETag are those of the last settled check. On a change it decides from
// the manifest (already installed, marked bad on this host, wrong package
// or architecture, bad signature, a replay), downloads the exact VersionId
// into the state directory while hashing it, checks size, SHA-256 and the
// package's own control fields, and hands it to the Installer: intent
// record, dpkg -i, restart, health, and the local rollback. Failures to
// reach the channel back off exponentially (Backoff: from twice the
// interval, each wait drawn at random so that hosts throttled or cut off
// together do not retry together) and are logged once per change of
// kind. Every state change, and a heartbeat, is written to a Status
// object next to the release; a write that S3 throttled (or failed with
// a 5xx) is repeated after the next check that reaches the channel.
//
// Before downloading, a release with a rollout policy must admit the host
// (the default policy admits at once, with no request): the wave in force
// must cover the host's place, now must be inside one of its maintenance
// windows (if it has any), the service must not hold its update (Config.Hold:
// a hold file or URL, bounded by Config.MaxHold; the host reports held), the
// release must not be halted, and, under
// max-updating or halt-after, the host must take an update slot (a lease,
// renewed while it installs and given back after); with the slot it counts
// failures and the hosts trying the release so that no more than
// halt-after ever fail it. From the second wave on, a release with a
// rollout gate (fleet.Gate: an HTTP URL that must answer 200, a CloudWatch
// alarm that must be OK, read through Config.Alarms) must pass it first;
// the gate is asked once per wave and, while it fails, again a wave
// interval later (fleet.GateCheck.Due), not at every poll. A host not
// admitted reports waiting, halted or gated in its status and asks again
// at its next poll; a host that fails the
// release records it for the fleet, and halts it when that reaches
// halt-after.
//
// The pieces it wires live in subpackages with one job each: state (the
// private, locked, crash-safe state directory), dpkg (running dpkg, waiting
// out its lock), service (restart by signal or command, then health) and
// hold (asking the service whether it holds its update).
// Recover, run at every start, makes a kill -9 at any point converge.
package agent
