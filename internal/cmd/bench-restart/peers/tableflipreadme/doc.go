// Command tableflipreadme is the usage example from tableflip v1.2.3's
// README, kept as close to verbatim as a runnable program allows (flags for
// the address and PID file, a handler on the default mux), as the peer that
// scripts/bench-restart (internal/cmd/bench-restart) measures restart/
// against. Do not improve it: its failures at each upgrade are the point.
package main
