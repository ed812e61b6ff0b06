// Package childenv is what the agent gives the programs it runs (dpkg and
// the maintainer scripts dpkg runs, the service's reload command) and
// takes back from them.
//
// Environ is the agent's environment without its credentials: under
// systemd or upstart the agent's static S3 keys come from
// /etc/autoupdate/credentials as environment variables, and a child would
// otherwise inherit them. Redact removes the values of those credentials
// from a child's output before it goes into an error, and from there into
// the agent's log, status object, failure records and state directory: a
// script running as root can still read the credentials file and print it.
//
// It lives apart from agent/dpkg and agent/service, which both use it, and
// outside restart/, whose surface is what a service imports.
package childenv
