// Package dpkg runs the system's dpkg for the agent: install a .deb without
// questions, finish an interrupted run, ask which version of a package is
// installed and what the host's architecture is.
//
// Several agent processes on one host (one per service) run dpkg one at a
// time and in the order they asked: before dpkg's own lock, Install and
// Configure take a ticket in a host-wide queue (DefaultQueueDir, a tmpfs
// directory only root writes). A ticket is a file named by the next number
// of a counter, held with flock(LOCK_EX) for as long as its owner waits or
// runs dpkg; a waiter goes on when no lower ticket is held. dpkg's lock
// alone would make runs exclusive but serve its retrying waiters in no
// order, so one agent could starve another. A waiter killed by SIGKILL
// leaves a ticket whose lock anyone can take: the next waiter to look
// removes it. The queue does not replace dpkg's lock, which apt and people
// take: apt holds lock-frontend and sets DPKG_FRONTEND_LOCKED only for its
// own dpkg children, and the agent removes that variable from dpkg's
// environment, so its dpkg always takes the frontend lock itself.
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
