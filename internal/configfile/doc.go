// Package configfile checks a service's configuration file before pkgdeb
// publishes it on a config channel: its size, its syntax (an environment
// file, as restart.ParseEnvFile and systemd's EnvironmentFile= read it),
// and a check command of the user's own.
//
// A configuration may hold secrets, so nothing here ever puts the file's
// text in an error: errors name the file, the line and the key, and a
// check command's output is shown with every value of the file replaced
// (Redact).
package configfile
