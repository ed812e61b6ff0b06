// Command pkgdeb builds Debian packages without dpkg-deb or root, and manages
// releases of them in versioned S3 buckets.
//
// Each subcommand lives in its own file (build.go, publish.go, ...) and has
// the signature of command.run; main.go only dispatches.
package main
