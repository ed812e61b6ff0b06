// Command tableflipshutdown is the "graceful shutdown with net/http"
// example that tableflip v1.2.3's README points to (its
// http_example_test.go), as a program: flags for the address and PID file,
// and two handlers so that there is something to drain ("/" names the
// process, "/sleep?d=" holds a request). scripts/bench-restart
// (internal/cmd/bench-restart, drains.go) measures restart/'s upgrade
// latency against it while older generations drain. Do not improve it: that
// it cannot upgrade until the previous process has exited is the point.
package main
