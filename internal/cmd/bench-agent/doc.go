// Command bench-agent is the driver behind scripts/bench-agent: it runs real
// autoupdate processes against a local versitygw behind a counting proxy,
// and measures what one idle agent costs (-mode idle) and how fast a fleet
// of agents picks up a release (-mode fleet). Everything it starts listens
// on or talks to 127.0.0.1 only, is bounded in time, and is stopped on
// return or on SIGINT/SIGTERM; agents also die with the driver (Pdeathsig).
package main
