package buildspec

import (
	"flag"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/debfleet/debfleet/internal/cli"
)

// keyExamples are a valid value of every key, as it is written in the YAML
// and as a flag argument ("" for a key without a flag).
func keyExamples() map[string]struct{ yaml, flag string } {
	return map[string]struct{ yaml, flag string }{
		"name": {"x", "x"}, "version": {"x", "x"}, "version-from-git": {"true", "true"},
		"goarch": {"x", "x"}, "goarm": {"x", "x"}, "arch": {"x", "x"},
		"maintainer": {"x", "x"}, "description": {"x", "x"}, "section": {"x", "x"},
		"priority": {"x", "x"}, "homepage": {"x", "x"},
		"depends": {"x", "x"}, "pre-depends": {"x", "x"}, "recommends": {"x", "x"},
		"suggests": {"x", "x"}, "conflicts": {"x", "x"}, "breaks": {"x", "x"},
		"replaces": {"x", "x"}, "provides": {"x", "x"},
		"fields":      {"{X-A: b}", ""},
		"compression": {"xz", "xz"},
		"files":       {"[x:/x]", "x:/x"}, "conffiles": {"[x:/x]", "x:/x"},
		"dirs": {"[/x]", "/x"}, "symlinks": {"[/x:y]", "/x:y"}, "man": {"x.1", "x.1"},
		"preinst": {"x", "x"}, "postinst": {"x", "x"}, "prerm": {"x", "x"},
		"postrm": {"x", "x"}, "copyright": {"x", "x"}, "changelog": {"x", "x"},
	}
}

// specOnly are the Spec fields that no key sets, and why.
var specOnly = map[string]string{
	"Dir": "Load sets it to the YAML file's directory",
}

// changed returns the names of the fields that differ between two Specs.
func changed(before, after *Spec) []string {
	b, a := reflect.ValueOf(before).Elem(), reflect.ValueOf(after).Elem()
	var out []string
	for i := range a.NumField() {
		if !reflect.DeepEqual(b.Field(i).Interface(), a.Field(i).Interface()) {
			out = append(out, a.Type().Field(i).Name)
		}
	}
	return out
}

// TestKeysReachEverySpecField fails when a key exists in one form and not
// in another: a Spec field no key sets, a key without an example here, or a
// key whose flag lands somewhere else than its YAML.
func TestKeysReachEverySpecField(t *testing.T) {
	examples := keyExamples()
	reached := map[string]bool{}
	for _, k := range keys() {
		t.Run(k.name, func(t *testing.T) {
			ex, ok := examples[k.name]
			if !ok {
				t.Fatalf("key %q has no example in keyExamples", k.name)
			}
			delete(examples, k.name)
			fromYAML, err := Parse([]byte(k.name+": "+ex.yaml+"\n"), "x.yaml", "base")
			if err != nil {
				t.Fatal(err)
			}
			field := changed(&Spec{Dir: "base"}, fromYAML)
			if len(field) != 1 {
				t.Fatalf("%s: %s sets the Spec fields %v, want exactly one", k.name, ex.yaml, field)
			}
			reached[field[0]] = true
			if k.flag == "" {
				return
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := RegisterFlags(fs)
			if _, err := cli.Parse(fs, []string{"--" + k.flag + "=" + ex.flag}); err != nil {
				t.Fatal(err)
			}
			fromFlag := &Spec{}
			if err := f.Apply(fromFlag); err != nil {
				t.Fatal(err)
			}
			if got := changed(&Spec{}, fromFlag); !slices.Equal(got, field) {
				t.Errorf("--%s=%s sets the Spec fields %v, but %s: in the YAML sets %v", k.flag, ex.flag, got, k.name, field)
			}
		})
	}
	for name := range examples {
		t.Errorf("keyExamples has %q, which is not a key", name)
	}
	typ := reflect.TypeFor[Spec]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if _, ok := specOnly[name]; !reached[name] && !ok {
			t.Errorf("no key sets Spec.%s: add one to keys() (or to specOnly, saying why)", name)
		}
	}
}

// TestKeysForms checks that each key's forms agree: a flag has a flag value
// and help, names are not given twice, and every package flag is a key's.
func TestKeysForms(t *testing.T) {
	names, flags := map[string]bool{}, map[string]bool{}
	for _, k := range keys() {
		if names[k.name] || (k.flag != "" && flags[k.flag]) {
			t.Errorf("key %q (flag %q) is defined twice", k.name, k.flag)
		}
		names[k.name], flags[k.flag] = true, k.flag != ""
		if k.kind.yaml == nil {
			t.Errorf("key %q: no YAML form", k.name)
		}
		if hasFlag := k.flag != ""; hasFlag != (k.kind.flag != nil) || hasFlag != (k.usage != "") {
			t.Errorf("key %q: flag %q, usage %q and kind.flag set (%v) must go together", k.name, k.flag, k.usage, k.kind.flag != nil)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	RegisterFlags(fs)
	fs.VisitAll(func(fl *flag.Flag) {
		if !flags[fl.Name] && fl.Name != "f" {
			t.Errorf("flag --%s is no key's: add it to keys()", fl.Name)
		}
	})
}
