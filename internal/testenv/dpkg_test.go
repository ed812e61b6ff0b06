package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDpkgRootIsEmptyAndConfined(t *testing.T) {
	root := DpkgRoot(t)
	for _, p := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("sandbox root lacks %s: %v", p, err)
		}
	}
	out, err := Dpkg(t, root, "--audit")
	if err != nil {
		t.Fatalf("dpkg --audit in an empty root: %v\n%s", err, out)
	}
	out, err = Dpkg(t, root, "-l")
	if err != nil {
		t.Fatalf("dpkg -l: %v\n%s", err, out)
	}
	if strings.Contains(out, "ii ") {
		t.Errorf("a fresh sandbox root lists installed packages:\n%s", out)
	}
	if _, err := Dpkg(t, root, "--status", "no-such-package"); err == nil {
		t.Error("dpkg --status of a missing package succeeded")
	}
}
