// Package demo holds what `make demo` (internal/cmd/demo) and the
// end-to-end test on systemd (e2e/) share: building the hello releases the
// way a user would (go build, then pkgdeb build) and loading several hosts
// at once. Waiting for the fleet is fleet's (Client.Watch behind pkgdeb
// wait, Client.WaitHosts for hosts known by name).
//
// It is not a library for users: it drives the real binaries (bin/pkgdeb,
// bin/autoupdate) and the real packages (release) from the outside.
package demo
