// Command autoupdate is the agent that runs on every server: it follows a
// release channel in S3 and installs each new release with dpkg, restarts
// the service, waits for proof of health and rolls back by itself when the
// release is bad. See --help, and the agent package for how it decides.
package main
