// Command bench-restart is the driver behind scripts/bench-restart: it puts
// the same HTTP load, with a restart every --every for --duration, on
// examples/hello (restart/) and on the peers under peers/ (tableflip's
// README example and a naive stop-and-start), each with keep-alive
// connections and with a new connection per request. It prints requests,
// failures, p50 and p99 latency outside and during restarts, and the time
// from signal to the new process being ready.
package main
