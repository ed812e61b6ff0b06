// Command bench-restart is the driver behind scripts/bench-restart: it puts
// the same HTTP load, with a restart every --every for --duration, on
// examples/hello (restart/) and on the peers under peers/ (tableflip's
// README example and a naive stop-and-start), each with keep-alive
// connections and with a new connection per request. It prints requests,
// failures, p50 and p99 latency outside and during restarts, and the time
// from signal to the new process being ready. Then (streams.go, --streams)
// it runs long-lived clients through the same restarts: websockets and
// server-sent events on examples/hello, grpc-go calls on
// examples/hellogrpc, and Go's HTTP/2 client over h2c, each with restart's
// upgrade and with a naive stop-and-start of the same binary, and prints
// what they got done, failures, lost messages or events, and reconnects.
// Last (drains.go) it measures the upgrade latency, signal to new
// generation Ready, with 0 to 3 older generations each draining a long
// request, against tableflip's graceful shutdown example
// (peers/tableflipshutdown), which must wait for the previous process to
// exit.
package main
