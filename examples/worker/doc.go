// Command worker is a job loop with no listener, built on restart: send it
// SIGHUP and a new generation of its binary starts taking jobs while the
// old one finishes the job it is running and exits. No job is lost or run
// twice: a job is claimed by renaming it into a directory of the
// generation that runs it, and its result is renamed into place before
// the claim is dropped.
//
// Usage:
//
//	worker --spool DIR [--pidfile FILE] [--work D] [--poll D] [--drain-timeout D] [--upgrade-timeout D]
//
// A job is a file renamed into DIR/new/ under a unique name; its result,
// the SHA-256 of its bytes (the stand-in for real work, which takes --work)
// and the PID that computed it, appears in DIR/done/ under the same name.
// A job still running --drain-timeout after its generation was told to
// exit is put back for the next one. A generation that dies running a job
// (killed, crashed) leaves it in DIR/claimed/PID/, and the next start puts
// it back: after a crash, and only then, a job may be started twice.
package main
