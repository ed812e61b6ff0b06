package deb_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestControlGolden(t *testing.T) {
	full := testSpec().Control
	full.Version = "1:2.3.4~rc1-1"
	full.Section = "net"
	full.Priority = "optional"
	full.Homepage = "https://example.com/hello"
	full.Synopsis = "greets the world over HTTP"
	full.Description = "hello answers every request with a greeting.\n\nIt is built by debfleet's tests:\n  an indented line stays verbatim.\n"
	full.Depends = []string{"libc6 (>= 2.34)", "adduser | passwd"}
	full.PreDepends = []string{"init-system-helpers (>= 1.54~)"}
	full.Recommends = []string{"ca-certificates"}
	full.Suggests = []string{"curl"}
	full.Conflicts = []string{"hello-old"}
	full.Breaks = []string{"hello-plugin (<< 2.0)"}
	full.Replaces = []string{"hello-old (<< 1.0)"}
	full.Provides = []string{"httpd-hello (= 2.3.4)"}
	full.InstalledSize = 1234
	full.Extra = []deb.Field{{Name: "Built-Using", Value: "golang-1.22 (= 1.22.1-1)"}, {Name: "X-Debfleet-Commit", Value: "0123abc"}}

	minimal := testSpec().Control
	minimal.Description = ""

	for _, tt := range []struct {
		name string
		c    deb.Control
	}{{"full", full}, {"minimal", minimal}} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Validate(); err != nil {
				t.Fatal(err)
			}
			got := tt.c.Marshal()
			golden := filepath.Join("testdata", "control-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./deb -run Golden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("control differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// What Build writes, Read gives back.
			spec := testSpec()
			spec.Control = tt.c
			p, _ := buildFile(t, spec)
			pkg, err := deb.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			back := pkg.Control
			back.InstalledSize = tt.c.InstalledSize
			want2 := tt.c
			want2.Description = trimDescription(want2.Description)
			if !reflect.DeepEqual(back, want2) {
				t.Errorf("Read gave back\n%#v\nwant\n%#v", back, want2)
			}
		})
	}
}

// trimDescription is the long description as it reads back: no leading or
// trailing blank lines.
func trimDescription(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}
