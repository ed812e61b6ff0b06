// Package e2e is the end-to-end test on real systemd: three systemd-nspawn
// containers (Debian bookworm, systemd as PID 1) run the autoupdate .deb
// built by make package and follow releases of hello published to a local
// S3 server (TestFleetOnSystemd); one more runs two services and the agent,
// each followed by its own autoupdate@NAME instance, and updates the agent
// through its own channel (TestAgentsOnSystemd). It needs root,
// systemd-nspawn and a root tarball, so it runs only through scripts/e2e
// (make e2e), which sets DEBFLEET_E2E=1; elsewhere it skips.
package e2e
