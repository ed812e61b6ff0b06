// Command hellogrpc is a small gRPC service built on restart: send it
// SIGHUP and it hands its socket to a new copy of its binary without
// failing a call. It serves the standard health service
// (grpc.health.v1.Health), which the restart tests and scripts/bench-restart
// load through upgrades with grpc-go's client. It shows that a *grpc.Server
// is served and drained by restart.Upgrader.Serve like an *http.Server.
//
// Usage:
//
//	hellogrpc [--listen ADDR] [--pidfile FILE] [--drain-timeout D] [--upgrade-timeout D]
package main
