package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

func TestMakeDpkgRootIsUsableByDpkg(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	if err := realparts.MakeDpkgRoot(root); err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.Dpkg(t, root, "--audit"); err != nil {
		t.Fatalf("dpkg --audit in a fresh demo root: %v\n%s", err, out)
	}
	deb := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "demo-probe", Version: "1.0"})
	if out, err := testenv.Dpkg(t, root, "-i", deb); err != nil {
		t.Fatalf("dpkg -i into the demo root: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/demo-probe")); err != nil {
		t.Errorf("dpkg did not install into the root: %v", err)
	}
}

func TestBuildBrokenHello(t *testing.T) {
	pkgdeb, err := realparts.BuildGo(t.Context(), t.TempDir(), "pkgdeb", "github.com/debfleet/debfleet/cmd/pkgdeb", "")
	if err != nil {
		t.Fatal(err)
	}
	h := Hello{Repo: repoRoot(t), Pkgdeb: pkgdeb, Dir: t.TempDir(), Version: "1.2.0", Broken: true}
	path, err := h.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := deb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Control.Package != "hello" || p.Control.Version != "1.2.0" {
		t.Errorf("built %s %s, want hello 1.2.0", p.Control.Package, p.Control.Version)
	}
	// The broken binary must really fail to start, or the demo shows
	// nothing.
	bin := filepath.Join(h.Dir, "hello-1.2.0", "hello")
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hello 1.2.0: fatal") {
		t.Errorf("the broken hello ran: %v, %q", err, out)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not at %s: %v", root, err)
	}
	return root
}

func TestChildrenAndStop(t *testing.T) {
	tests := []struct {
		name       string
		script     string // what the child does on SIGTERM
		wantKilled bool
	}{
		{"exits on SIGTERM", "exec sleep 60", false},
		{"ignores SIGTERM", "trap '' TERM; while :; do sleep 0.05; done", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			t.Cleanup(func() { cmd.Process.Kill(); <-done })
			pid := cmd.Process.Pid
			time.Sleep(100 * time.Millisecond) // let the trap be set
			if kids := realparts.Children(os.Getpid()); !slices.Contains(kids, pid) {
				t.Fatalf("Children(self) = %v, want it to include %d", kids, pid)
			}
			if killed := Stop(pid, 300*time.Millisecond); killed != tt.wantKilled {
				t.Errorf("Stop reported killed=%v, want %v", killed, tt.wantKilled)
			}
			<-done
			if slices.Contains(realparts.Children(os.Getpid()), pid) {
				t.Errorf("%d still listed after Stop", pid)
			}
		})
	}
}
