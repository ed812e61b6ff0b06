package deb_test

import (
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

func TestValidateAccepts(t *testing.T) {
	c := testSpec().Control
	c.Version = "2:1.0~rc1+git3.abc-0ubuntu1.2"
	c.Architecture = "all"
	c.Section = "net"
	c.Priority = "optional"
	c.Homepage = "https://example.com/hello"
	c.Depends = []string{"libc6 (>= 2.34)", "adduser | passwd", "python3:any", "foo:amd64 (<< 2:3)", "bar ( = 1.0-1 )"}
	c.PreDepends = []string{"init-system-helpers (>= 1.54~)"}
	c.Provides = []string{"httpd (= 1.0)", "web-server"}
	c.Conflicts = []string{"old-hello (<= 0.9)"}
	c.Breaks = []string{"hello-plugin (<< 1.0)"}
	c.Replaces = []string{"old-hello"}
	c.Extra = []deb.Field{{"Built-Using", "golang-1.22 (= 1.22.1-1)"}, {"X-Notes", "line one\n\nline three"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// Every validation error, with the field it names and the words it must say.
func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *deb.Control)
		want string
	}{
		{"no package", func(c *deb.Control) { c.Package = "" }, "Package: \"\": is required"},
		{"uppercase package", func(c *deb.Control) { c.Package = "Hello" }, "Package: \"Hello\": must start with a lowercase letter or digit"},
		{"one-letter package", func(c *deb.Control) { c.Package = "h" }, "Package: \"h\": must be at least two characters long"},
		{"underscore", func(c *deb.Control) { c.Package = "hello_world" }, "Package: \"hello_world\": character '_' not allowed"},
		{"package starts with dash", func(c *deb.Control) { c.Package = "-x" }, "Package: \"-x\": must start with a lowercase letter or digit"},
		{"empty version", func(c *deb.Control) { c.Version = "" }, "Version: \"\": version string is empty"},
		{"version with space", func(c *deb.Control) { c.Version = "1.0 1" }, "version string has embedded spaces"},
		{"empty epoch", func(c *deb.Control) { c.Version = ":1.0" }, "epoch in version is empty"},
		{"epoch not number", func(c *deb.Control) { c.Version = "a:1.0" }, "epoch in version is not number"},
		{"epoch negative", func(c *deb.Control) { c.Version = "-1:1.0" }, "epoch in version is negative"},
		{"epoch too big", func(c *deb.Control) { c.Version = "99999999999:1.0" }, "epoch in version is too big"},
		{"nothing after colon", func(c *deb.Control) { c.Version = "1:" }, "nothing after colon in version number"},
		{"empty revision", func(c *deb.Control) { c.Version = "1.0-" }, "revision number is empty"},
		{"empty upstream", func(c *deb.Control) { c.Version = "-1" }, "version number is empty"},
		{"upstream not digit", func(c *deb.Control) { c.Version = "v1.0" }, "Version: \"v1.0\": version number does not start with digit"},
		{"bad upstream char", func(c *deb.Control) { c.Version = "1.0_beta" }, "invalid character '_' in version number"},
		{"bad revision char", func(c *deb.Control) { c.Version = "1.0-1_2" }, "invalid character '_' in revision number"},
		{"no arch", func(c *deb.Control) { c.Architecture = "" }, "Architecture: \"\": may not be empty string"},
		{"bad arch char", func(c *deb.Control) { c.Architecture = "amd_64" }, "Architecture: \"amd_64\": character '_' not allowed"},
		{"arch any", func(c *deb.Control) { c.Architecture = "any" }, "needs one concrete architecture"},
		{"arch wildcard", func(c *deb.Control) { c.Architecture = "linux-any" }, "needs one concrete architecture"},
		{"no maintainer", func(c *deb.Control) { c.Maintainer = " " }, "Maintainer: is required"},
		{"maintainer without email", func(c *deb.Control) { c.Maintainer = "Jane" }, "Maintainer: \"Jane\": want \"Full Name <email@address>\""},
		{"no synopsis", func(c *deb.Control) { c.Synopsis = "" }, "Description: the synopsis (first line) is required"},
		{"multi-line synopsis", func(c *deb.Control) { c.Synopsis = "a\nb" }, "Description: the synopsis must be a single line"},
		{"padded synopsis", func(c *deb.Control) { c.Synopsis = " a" }, "Description: the synopsis must not start or end with spaces"},
		{"section with space", func(c *deb.Control) { c.Section = "net work" }, "Section: \"net work\" must be a single word"},
		{"homepage with space", func(c *deb.Control) { c.Homepage = "http://a b" }, "Homepage: \"http://a b\" must be a single word"},
		{"bad priority", func(c *deb.Control) { c.Priority = "high" }, "Priority: \"high\": want required, important, standard, optional or extra"},
		{"negative size", func(c *deb.Control) { c.InstalledSize = -1 }, "Installed-Size: -1 is negative"},
		{"empty relation", func(c *deb.Control) { c.Depends = []string{" "} }, "Depends: empty item"},
		{"bad relation name", func(c *deb.Control) { c.Depends = []string{"Foo"} }, "Depends: \"Foo\": package name \"Foo\": must start with a lowercase letter or digit"},
		{"obsolete <", func(c *deb.Control) { c.Depends = []string{"foo (< 1.0)"} }, "Depends: \"foo (< 1.0)\": obsolete relation '<' in \"< 1.0\": use '<<' or '<='"},
		{"bad operator", func(c *deb.Control) { c.Recommends = []string{"foo (~ 1.0)"} }, "Recommends: \"foo (~ 1.0)\": bad version relation in \"~ 1.0\""},
		{"unterminated version", func(c *deb.Control) { c.Suggests = []string{"foo (>= 1.0"} }, "Suggests: \"foo (>= 1.0\": version unterminated"},
		{"bad relation version", func(c *deb.Control) { c.Depends = []string{"foo (>= x1)"} }, "Depends: \"foo (>= x1)\": error in version \"x1\": version number does not start with digit"},
		{"arch restriction", func(c *deb.Control) { c.Depends = []string{"foo [amd64]"} }, "Depends: \"foo [amd64]\": architecture restrictions ('[...]') are only allowed in source packages"},
		{"bad arch qualifier", func(c *deb.Control) { c.Depends = []string{"foo:_x"} }, "Depends: \"foo:_x\": invalid architecture qualifier \"_x\""},
		{"alternatives in conflicts", func(c *deb.Control) { c.Conflicts = []string{"foo | bar"} }, "Conflicts: \"foo | bar\": alternatives ('|') are not allowed in Conflicts"},
		{"provides with >=", func(c *deb.Control) { c.Provides = []string{"foo (>= 1)"} }, "Provides: \"foo (>= 1)\": only exact versions ('=') may be used in Provides"},
		{"comma inside item", func(c *deb.Control) { c.Breaks = []string{"foo, bar"} }, "Breaks: \"foo, bar\": give each relation as its own item"},
		{"trailing junk", func(c *deb.Control) { c.PreDepends = []string{"foo (>= 1) bar"} }, "Pre-Depends: \"foo (>= 1) bar\": unexpected \"bar\" after the relation"},
		{"empty alternative", func(c *deb.Control) { c.Depends = []string{"foo |"} }, "Depends: \"foo |\": empty alternative"},
		{"extra name colon", func(c *deb.Control) { c.Extra = []deb.Field{{"X:Y", "v"}} }, "X:Y: custom field name \"X:Y\": character ':' not allowed"},
		{"extra name dash", func(c *deb.Control) { c.Extra = []deb.Field{{"-X", "v"}} }, "custom field name \"-X\": must not start with '#' or '-'"},
		{"extra standard", func(c *deb.Control) { c.Extra = []deb.Field{{"version", "2"}} }, "version: is a standard field"},
		{"extra twice", func(c *deb.Control) { c.Extra = []deb.Field{{"X-A", "1"}, {"x-a", "2"}} }, "x-a: custom field given twice"},
		{"extra empty", func(c *deb.Control) { c.Extra = []deb.Field{{"X-A", " "}} }, "X-A: custom field has an empty value"},
		{"extra carriage return", func(c *deb.Control) { c.Extra = []deb.Field{{"X-A", "a\r\nb"}} }, "X-A: value contains a carriage return"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testSpec().Control
			tt.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// The version rules must agree with dpkg itself: dpkg --compare-versions
// refuses what Validate refuses.
func TestValidateVersionAgreesWithDpkg(t *testing.T) {
	dpkg := lookTool(t, "dpkg")
	for _, v := range []string{"1.0", "2:1.0-1", "1.0~rc1", "1.0+git3.ab-0ubuntu1", "v1.0", "1.0_b", ":1", "1.0-", "a:1"} {
		c := testSpec().Control
		c.Version = v
		errOurs := c.Validate()
		out, errDpkg := runTool(t, dpkg, "--validate-version", v)
		if (errOurs == nil) != (errDpkg == nil) {
			t.Errorf("version %q: Validate says %v, dpkg says %v (%s)", v, errOurs, errDpkg, out)
		}
	}
	// Package names: Validate follows Policy, which is stricter than dpkg
	// (dpkg still takes "_" and uppercase), so it must refuse all dpkg
	// refuses and accept the Policy-conforming names dpkg accepts.
	for _, p := range []string{"hello", "hello-world", "a.b+c", "0ad", "-x", "hello world", "+x"} {
		c := testSpec().Control
		c.Package = p
		errOurs := c.Validate()
		out, errDpkg := runTool(t, dpkg, "--validate-pkgname", p)
		if errDpkg != nil && errOurs == nil || errDpkg == nil && errOurs != nil {
			t.Errorf("package %q: Validate says %v, dpkg says %v (%s)", p, errOurs, errDpkg, out)
		}
	}
}

func TestBuildRejectsInvalidControlNamingField(t *testing.T) {
	spec := testSpec()
	spec.Control.Version = "latest"
	_, err := deb.Build(t.Context(), discard{}, spec)
	if err == nil || !strings.Contains(err.Error(), "Version: \"latest\": version number does not start with digit") {
		t.Fatalf("Build error = %v", err)
	}
}
