// Package cli holds the small pieces every debfleet command shares:
// flag parsing that accepts flags after positional arguments, and a
// repeatable string flag. Its UsageError marks an error in how a command
// was called (an unknown flag, a missing argument), which commands answer
// with exit status 2.
package cli
