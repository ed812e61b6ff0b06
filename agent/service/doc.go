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
package service
