//go:build !unix

package realparts

import "os/exec"

// ownProcessGroup does nothing where there are no process groups; these
// tests only run on Linux, but packages that use testenv are vetted for
// other platforms too.
func ownProcessGroup(*exec.Cmd) {}
