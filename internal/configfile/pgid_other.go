//go:build !unix

package configfile

import "os/exec"

// ownProcessGroup does nothing where process groups do not exist: a
// timeout kills the shell, and WaitDelay bounds the wait for the rest.
func ownProcessGroup(*exec.Cmd) {}
