package realparts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MakeDpkgRoot creates an empty dpkg sandbox root at dir: the admin
// directory (var/lib/dpkg with status, available, info, updates, triggers),
// var/log for --log, and etc and tmp for maintainer scripts. Run dpkg in it
// with DpkgArgs(dir) and DpkgEnv.
func MakeDpkgRoot(dir string) error {
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("make dpkg root %s: %w", dir, err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			return fmt.Errorf("make dpkg root %s: %w", dir, err)
		}
	}
	return nil
}

// DpkgArgs returns the arguments that confine dpkg to root: its own database
// and log, maintainer scripts run without chroot (they see DPKG_ROOT=root),
// and --force-not-root when not running as root.
func DpkgArgs(root string) []string {
	args := []string{"--root=" + root, "--log=" + filepath.Join(root, "var/log/dpkg.log"), "--force-script-chrootless"}
	if os.Geteuid() != 0 {
		args = append(args, "--force-not-root")
	}
	return args
}

// DpkgEnv is the environment for dpkg: the caller's, with the sbin
// directories dpkg insists on finding (ldconfig, start-stop-daemon) in PATH.
func DpkgEnv() []string {
	env := os.Environ()
	path := os.Getenv("PATH")
	for _, d := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path += ":" + d
		}
	}
	return append(env, "PATH="+strings.TrimPrefix(path, ":"))
}
