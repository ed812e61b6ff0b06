// Command demo is the driver behind scripts/demo (make demo): three servers,
// each an autoupdate agent with its own dpkg sandbox root and its own hello
// service, follow one release channel in a local versitygw through hello
// 1.0.0, 1.1.0 under load (zero failed requests), a broken 1.2.0 that every
// host rolls back by itself, and a rollback of the channel with pkgdeb,
// telling the story as it goes. It needs neither root nor a cloud account,
// runs from the repository root after make build (scripts/demo does both),
// and stops every process it started, also on failure and on Ctrl-C.
package main
