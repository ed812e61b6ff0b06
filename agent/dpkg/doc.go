// Package dpkg runs the system's dpkg for the agent: install a .deb without
// questions, finish an interrupted run, ask which version of a package is
// installed and what the host's architecture is.
//
// When dpkg's lock is held (unattended-upgrades at boot, an operator's apt),
// Install and Configure wait and retry, bounded by LockWait and by the
// context, instead of failing the release. With Root set, every command runs
// against a sandbox root (--root, --log, --force-script-chrootless), so the
// host's package database is never touched: tests and the demo use this.
//
// dpkg and the maintainer scripts it runs get the agent's environment
// without its credentials (no AWS_* variable, nothing whose name says it
// is a secret), and the values of those credentials are redacted from the
// output that errors carry.
package dpkg
