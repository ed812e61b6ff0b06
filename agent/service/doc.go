// Package service restarts the service the agent updates and waits for
// proof that the new release is healthy.
//
// A restart is a signal to the PID in the service's PID file (SIGHUP by
// default: restart/ then starts the new binary with the listening sockets)
// or a reload command such as "systemctl reload hello". Proof of health is,
// within a deadline, all of:
//   - a new PID in the PID file (restart/ writes it only once the new
//     process is Ready) whose process is alive;
//   - the health URL answering 200;
//   - the version URL answering 200 with the expected version as its body.
//
// Each is checked only when configured. Restarts can be delayed by a random
// splay so that a fleet receiving a release at the same moment does not
// restart all at once.
//
// # Whose PID file
//
// The agent runs as root; the PID file lives in a directory the service's
// user writes (/run/hello under DynamicUser=yes). So the file is read as
// restart.ReadPIDFileOwner reads it: not through a symbolic link, without
// blocking on a FIFO, a regular file of one link and at most 64 bytes, and
// no error ever carries its content. Anything else fails the restart at
// once with ErrNotService; a missing file, or one whose content is not a
// PID, means no service is running (ErrNotRunning).
//
// The PID it names, before the restart (to be signalled) and after it (as
// proof), counts as the service's only if its process
//   - is not PID 1, the agent itself or one of the agent's ancestors (its
//     supervisor, systemd);
//   - can be signalled by the PID file's owner, that is, the process's real
//     or saved user ID is the file's owner, as kill(2) requires of an
//     unprivileged sender: the agent lends its privilege to no one. A
//     root-owned PID file was written by root, which could signal anything
//     anyway; where /proc cannot show a process's user, only a root-owned
//     file is trusted;
//   - runs in the service's cgroup: with Input.Unit (autoupdate
//     --service-unit hello.service), in that systemd unit or below it
//     (the path's first component that is not a slice is the unit, so a
//     user manager's hello.service is not it); without it, in the cgroup of
//     the first PID this Service trusted, which it logs ("service cgroup
//     learned"). The cgroup is the one systemd tracks processes by
//     (name=systemd on legacy and hybrid hierarchies, else the unified
//     one).
//
// Otherwise Restart and Wait fail at once with ErrNotService and nothing is
// signalled. The signal goes through a handle taken before /proc is read (a
// pidfd), so a PID reused in between is not signalled either.
//
// What each rule guarantees where: under systemd with DynamicUser (our
// units), the user rule alone confines the signal to the service's own
// processes, and the unit rule also to its unit. Under `autoupdate
// supervise` or RESTART_SUPERVISE=1 from upstart, the service runs as root
// and shares its cgroup with everything, so only the first rule holds: the
// PID file is then root's, and root is trusted. In tests and the demo the
// agent and the service share a user and a cgroup: the first rule is what
// is left, and the tests check it. The learned cgroup trusts the first PID
// it sees; give the unit where systemd runs the service. Directories above
// the PID file are trusted as they are: keep the file directly in the
// directory the service owns (/run/hello/hello.pid), whose parent only
// root can change.
package service
