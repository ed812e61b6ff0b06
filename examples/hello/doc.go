// Command hello is a small HTTP service built on restart: send it SIGHUP
// and it hands its socket to a new copy of its binary without failing a
// request. The demo and the end-to-end tests deploy it.
//
// Usage:
//
//	hello [--listen ADDR] [--pidfile FILE] [--drain-timeout D] [--upgrade-timeout D]
//
// Endpoints: / (a greeting with version and PID), /healthz, /version, and
// /sleep?d=1s (answers after d, for drain tests).
package main
