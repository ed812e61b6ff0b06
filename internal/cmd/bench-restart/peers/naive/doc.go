// Command naive is a plain net/http service restarted the naive way: stop
// (SIGTERM, then http.Server.Shutdown) and start again. It is one of the
// peers that scripts/bench-restart (internal/cmd/bench-restart) measures
// restart/ against.
package main
