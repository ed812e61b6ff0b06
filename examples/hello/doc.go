// Command hello is a small HTTP service built on restart: send it SIGHUP
// and it hands its socket to a new copy of its binary without failing a
// request. The demo and the end-to-end tests deploy it.
//
// Usage:
//
//	hello [--listen ADDR] [--pidfile FILE] [--drain-timeout D] [--upgrade-timeout D] [--env-file [-]FILE] [--tls-cert FILE --tls-key FILE]
//
// Endpoints: / (a greeting with version and PID), /healthz, /version,
// /sleep?d=1s (answers after d, for drain tests), /ws (a websocket echo
// that names the generation answering, closing with 1012 at an upgrade) and
// /events?every=1s (server-sent events, numbered across generations and
// resumed from Last-Event-ID). It speaks HTTP/1.1 and h2c, or, with
// --tls-cert, HTTP/1.1 and HTTP/2 over TLS. The greeting is
// HELLO_GREETING, default "hello"; --env-file names a file of KEY=VALUE
// lines (systemd's EnvironmentFile= syntax) that each upgrade reads again,
// so `systemctl reload hello` picks up a new greeting. HELLO_FAIL_HEALTH=1
// makes /healthz answer 500: a bad config, for tests of its rollback.
package main
