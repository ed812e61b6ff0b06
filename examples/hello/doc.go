// Command hello is a small HTTP service built on restart: send it SIGHUP
// and it hands its socket to a new copy of its binary without failing a
// request. The demo and the end-to-end tests deploy it.
//
// Usage:
//
//	hello [--listen ADDR] [--pidfile FILE] [--drain-timeout D] [--upgrade-timeout D] [--env-file [-]FILE]
//
// Endpoints: / (a greeting with version and PID), /healthz, /version, and
// /sleep?d=1s (answers after d, for drain tests). The greeting is
// HELLO_GREETING, default "hello"; --env-file names a file of KEY=VALUE
// lines (systemd's EnvironmentFile= syntax) that each upgrade reads again,
// so `systemctl reload hello` picks up a new greeting.
package main
