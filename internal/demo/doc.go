// Package demo holds what `make demo` (internal/cmd/demo) and the
// end-to-end test on systemd (e2e/) share: building the hello releases the
// way a user would (go build, then pkgdeb build), waiting for the fleet's
// status objects to say something, and loading several hosts at once.
//
// It is not a library for users: it drives the real binaries (bin/pkgdeb,
// bin/autoupdate) and the real packages (release) from the outside.
package demo
