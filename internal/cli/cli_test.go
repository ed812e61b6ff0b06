package cli

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantPos   []string
		wantForce bool
		wantOut   string
	}{
		{"flags first", []string{"--force", "-o", "x", "a", "b"}, []string{"a", "b"}, true, "x"},
		{"flags last", []string{"a", "b", "--force", "-o=y"}, []string{"a", "b"}, true, "y"},
		{"interleaved", []string{"a", "--o", "z", "b"}, []string{"a", "b"}, false, "z"},
		{"double dash", []string{"a", "--", "--force", "b"}, []string{"a", "--force", "b"}, false, ""},
		{"none", nil, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			force := fs.Bool("force", false, "")
			out := fs.String("o", "", "")
			pos, err := Parse(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tt.wantPos) || *force != tt.wantForce || *out != tt.wantOut {
				t.Errorf("Parse(%q) = %q force=%v o=%q; want %q %v %q", tt.args, pos, *force, *out, tt.wantPos, tt.wantForce, tt.wantOut)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{{"a", "--nope"}, {"--n", "x"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("n", 0, "")
		_, err := Parse(fs, args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v, want a *UsageError", args, err)
		}
	}
}

func TestNewFlagSetHelp(t *testing.T) {
	var out strings.Builder
	fs := NewFlagSet("pkgdeb x", "Usage: pkgdeb x FILE\n\nFlags:\n", &out)
	fs.Bool("json", false, "print JSON")
	if _, err := Parse(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "Usage: pkgdeb x FILE\n") || !strings.Contains(got, "-json") {
		t.Errorf("help text:\n%s", got)
	}
}

func TestStrings(t *testing.T) {
	var s Strings
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&s, "depends", "")
	if _, err := Parse(fs, []string{"--depends", "a", "x", "--depends=b"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual([]string(s), []string{"a", "b"}) {
		t.Errorf("got %q", s)
	}
	if _, err := Parse(fs, []string{"--depends="}); err == nil {
		t.Error("want an error for an empty value")
	}
}
