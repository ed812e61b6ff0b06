package deb_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/testenv"
)

// lifecycleSpec is version v of a package whose scripts leave markers under
// $DPKG_ROOT, so the test sees they ran and saw DPKG_ROOT.
func lifecycleSpec(t *testing.T, version, conf string) *deb.Spec {
	t.Helper()
	spec := testSpec()
	spec.Control.Version = version
	spec.Entries = []deb.Entry{
		{Dest: "/usr/bin/hello", Body: []byte("#!/bin/sh\necho hello " + version + "\n"), Mode: 0o755},
		{Type: deb.Symlink, Dest: "/usr/bin/hi", Target: "hello"},
		{Dest: "/usr/lib/hello/odd", Body: []byte(strings.Repeat("x", 333) + version), Mode: 0o640},
		{Dest: "/etc/hello/hello.conf", Body: []byte(conf)},
		{Dest: "/etc/hello/generated", Body: []byte("generated " + version + "\n"), NoConffile: true},
		{Type: deb.Dir, Dest: "/var/lib/hello", Mode: 0o750},
	}
	marker := func(name string) []byte {
		return []byte("#!/bin/sh\nset -e\n[ -n \"$DPKG_ROOT\" ] || { echo DPKG_ROOT unset >&2; exit 1; }\n" +
			"mkdir -p \"$DPKG_ROOT/tmp/markers\"\n" +
			"echo \"$DPKG_ROOT $*\" >> \"$DPKG_ROOT/tmp/markers/" + name + "\"\n")
	}
	spec.Scripts = deb.Scripts{Preinst: marker("preinst"), Postinst: marker("postinst"), Prerm: marker("prerm"), Postrm: marker("postrm")}
	spec.Copyright = []byte("Copyright: debfleet tests\n")
	return spec
}

// Install, upgrade (the admin's conffile edit survives), downgrade, remove
// and purge with the real dpkg in a sandbox root.
func TestDpkgLifecycle(t *testing.T) {
	root := testenv.DpkgRoot(t)
	v1, _ := buildFile(t, lifecycleSpec(t, "1.0-1", "greeting=hello\n"))
	v2, _ := buildFile(t, lifecycleSpec(t, "2.0-1", "greeting=hello\nnew=2\n"))
	dpkg := func(args ...string) string {
		t.Helper()
		out, err := testenv.Dpkg(t, root, args...)
		if err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	file := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	status := func() string {
		t.Helper()
		out, _ := testenv.Dpkg(t, root, "--status", "hello")
		return out
	}
	markers := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(root, "tmp/markers", name))
		return string(b)
	}
	checkMode := func(p string, want fs.FileMode) {
		t.Helper()
		st, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (sys.Uid != 0 || sys.Gid != 0) {
			t.Errorf("%s: owner %d:%d, want root", p, sys.Uid, sys.Gid)
		}
	}

	// Install.
	dpkg("-i", v1)
	if s := status(); !strings.Contains(s, "Status: install ok installed") || !strings.Contains(s, "Version: 1.0-1") {
		t.Fatalf("after install:\n%s", s)
	}
	if got := file("usr/bin/hello"); got != "#!/bin/sh\necho hello 1.0-1\n" {
		t.Errorf("usr/bin/hello = %q", got)
	}
	checkMode("usr/bin/hello", 0o755)
	checkMode("usr/lib/hello/odd", 0o640)
	checkMode("etc/hello/hello.conf", 0o644)
	checkMode("var/lib/hello", fs.ModeDir|0o750)
	checkMode("usr/bin/hi", fs.ModeSymlink|0o777)
	if target, err := os.Readlink(filepath.Join(root, "usr/bin/hi")); err != nil || target != "hello" {
		t.Errorf("usr/bin/hi -> %q (%v)", target, err)
	}
	if got := file("usr/lib/hello/odd"); len(got) != 333+len("1.0-1") {
		t.Errorf("odd-sized file has %d bytes", len(got))
	}
	if got := markers("postinst"); got != root+" configure \n" {
		t.Errorf("postinst markers %q, want it run once with DPKG_ROOT=%s and 'configure'", got, root)
	}
	if got := markers("preinst"); got != root+" install\n" {
		t.Errorf("preinst markers %q", got)
	}
	if out := dpkg("--verify", "hello"); out != "" {
		t.Errorf("dpkg --verify after install: %s", out)
	}

	// The admin edits the conffile; the upgrade keeps the edit.
	edited := "greeting=bonjour\n"
	if err := os.WriteFile(filepath.Join(root, "etc/hello/hello.conf"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg("--force-confold", "-i", v2)
	if s := status(); !strings.Contains(s, "Version: 2.0-1") {
		t.Fatalf("after upgrade:\n%s", s)
	}
	if got := file("etc/hello/hello.conf"); got != edited {
		t.Errorf("upgrade lost the admin's conffile edit: %q", got)
	}
	if got := file("usr/bin/hello"); !strings.Contains(got, "2.0-1") {
		t.Errorf("upgrade did not replace usr/bin/hello: %q", got)
	}
	if got := file("etc/hello/generated"); got != "generated 2.0-1\n" {
		t.Errorf("a non-conffile under /etc was not replaced: %q", got)
	}
	if got := markers("postinst"); !strings.HasSuffix(got, root+" configure 1.0-1\n") {
		t.Errorf("postinst on upgrade: %q", got)
	}

	// Downgrade.
	dpkg("--force-confold", "-i", v1)
	if s := status(); !strings.Contains(s, "Version: 1.0-1") {
		t.Fatalf("after downgrade:\n%s", s)
	}
	if got := file("usr/bin/hello"); !strings.Contains(got, "1.0-1") {
		t.Errorf("downgrade did not restore usr/bin/hello: %q", got)
	}
	if got := file("etc/hello/hello.conf"); got != edited {
		t.Errorf("downgrade lost the conffile edit: %q", got)
	}

	// Remove: files go, conffiles stay.
	dpkg("--remove", "hello")
	if s := status(); !strings.Contains(s, "Status: deinstall ok config-files") {
		t.Fatalf("after remove:\n%s", s)
	}
	for _, p := range []string{"usr/bin/hello", "usr/bin/hi", "usr/lib/hello/odd", "etc/hello/generated"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s still there after remove (%v)", p, err)
		}
	}
	if got := file("etc/hello/hello.conf"); got != edited {
		t.Errorf("remove did not keep the conffile: %q", got)
	}
	if got := markers("postrm"); !strings.Contains(got, root+" remove\n") {
		t.Errorf("postrm markers after remove: %q", got)
	}

	// Purge: conffiles go too.
	dpkg("--purge", "hello")
	if _, err := os.Stat(filepath.Join(root, "etc/hello/hello.conf")); !os.IsNotExist(err) {
		t.Errorf("conffile still there after purge (%v)", err)
	}
	if got := markers("postrm"); !strings.HasSuffix(got, root+" purge\n") {
		t.Errorf("postrm markers after purge: %q", got)
	}
	if out, _ := testenv.Dpkg(t, root, "--status", "hello"); strings.Contains(out, "Status: install") || strings.Contains(out, "config-files") {
		t.Errorf("still known after purge:\n%s", out)
	}
}
