package deb

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Validate checks c the way dpkg checks a binary package's control file
// (lib/dpkg/parsehelp.c, fields.c), with the package name held to Debian
// Policy 5.6.1 (lowercase, at least two characters), which dpkg-gencontrol
// and lintian enforce. Each error names the field it is about. It joins every
// problem found rather than stopping at the first.
func (c *Control) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkPackageName(c.Package); err != nil {
		bad("Package", "%q: %v", c.Package, err)
	}
	if err := checkVersion(c.Version); err != nil {
		bad("Version", "%q: %v", c.Version, err)
	}
	if err := checkArchitecture(c.Architecture); err != nil {
		bad("Architecture", "%q: %v", c.Architecture, err)
	}
	if strings.TrimSpace(c.Maintainer) == "" {
		bad("Maintainer", "is required (e.g. \"Jane Doe <jane@example.com>\")")
	} else if err := checkMaintainer(c.Maintainer); err != nil {
		bad("Maintainer", "%q: %v", c.Maintainer, err)
	}
	if strings.TrimSpace(c.Synopsis) == "" {
		bad("Description", "the synopsis (first line) is required")
	} else if strings.ContainsAny(c.Synopsis, "\n\r") {
		bad("Description", "the synopsis must be a single line")
	} else if c.Synopsis != strings.TrimSpace(c.Synopsis) {
		bad("Description", "the synopsis must not start or end with spaces")
	}
	for name, v := range map[string]string{"Section": c.Section, "Homepage": c.Homepage} {
		if strings.ContainsAny(v, " \t\n\r") {
			bad(name, "%q must be a single word", v)
		}
	}
	switch c.Priority {
	case "", "required", "important", "standard", "optional", "extra":
	default:
		bad("Priority", "%q: want required, important, standard, optional or extra", c.Priority)
	}
	if c.InstalledSize < 0 {
		bad("Installed-Size", "%d is negative", c.InstalledSize)
	}
	for _, r := range c.relations() {
		if err := checkRelations(r.name, r.items); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]bool{}
	for _, f := range c.Extra {
		if err := checkFieldName(f.Name); err != nil {
			bad(f.Name, "custom field name %q: %v", f.Name, err)
			continue
		}
		lower := strings.ToLower(f.Name)
		if standardFields[lower] {
			bad(f.Name, "is a standard field: set it through its own Control field, not Extra")
		} else if seen[lower] {
			bad(f.Name, "custom field given twice")
		}
		seen[lower] = true
		if strings.TrimSpace(f.Value) == "" {
			bad(f.Name, "custom field has an empty value")
		} else if strings.ContainsRune(f.Value, '\r') {
			bad(f.Name, "value contains a carriage return")
		}
	}
	return errors.Join(errs...)
}

// standardFields are the lowercased names Control sets itself, plus those
// dpkg computes or forbids in a binary package's control file.
var standardFields = map[string]bool{
	"package": true, "version": true, "architecture": true, "maintainer": true,
	"installed-size": true, "section": true, "priority": true, "homepage": true,
	"description": true, "depends": true, "pre-depends": true, "recommends": true,
	"suggests": true, "conflicts": true, "breaks": true, "replaces": true,
	"provides": true, "status": true,
	"conffiles": true, "filename": true, "size": true, "md5sum": true,
}

type relationField struct {
	name  string
	items []string
}

func (c *Control) relations() []relationField {
	return []relationField{
		{"Pre-Depends", c.PreDepends}, {"Depends", c.Depends},
		{"Recommends", c.Recommends}, {"Suggests", c.Suggests},
		{"Breaks", c.Breaks}, {"Conflicts", c.Conflicts},
		{"Provides", c.Provides}, {"Replaces", c.Replaces},
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isLowerAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// checkPackageName applies Debian Policy 5.6.1.
func checkPackageName(s string) error {
	switch {
	case s == "":
		return errors.New("is required")
	case !isLowerAlnum(s[0]):
		return errors.New("must start with a lowercase letter or digit")
	case len(s) < 2:
		return errors.New("must be at least two characters long")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '+' && c != '-' && c != '.' {
			return fmt.Errorf("character %q not allowed (only lowercase letters, digits, '+', '-' and '.')", c)
		}
	}
	return nil
}

// checkVersion follows dpkg's parseversion: [epoch:]upstream[-revision].
func checkVersion(s string) error {
	if s == "" {
		return errors.New("version string is empty")
	}
	if strings.ContainsAny(s, " \t\n\r") {
		return errors.New("version string has embedded spaces")
	}
	rest := s
	if epoch, after, ok := strings.Cut(s, ":"); ok {
		if epoch == "" {
			return errors.New("epoch in version is empty")
		}
		n, err := strconv.ParseInt(epoch, 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > math.MaxInt32:
			return errors.New("epoch in version is too big")
		case err != nil:
			return errors.New("epoch in version is not number")
		case n < 0 || epoch[0] == '-':
			return errors.New("epoch in version is negative")
		}
		if after == "" {
			return errors.New("nothing after colon in version number")
		}
		rest = after
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return errors.New("revision number is empty")
		}
	}
	if upstream == "" {
		return errors.New("version number is empty")
	}
	if upstream[0] < '0' || upstream[0] > '9' {
		return errors.New("version number does not start with digit")
	}
	for i := 0; i < len(upstream); i++ {
		if c := upstream[i]; !isAlnum(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return fmt.Errorf("invalid character %q in version number", c)
		}
	}
	for i := 0; i < len(revision); i++ {
		if c := revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return fmt.Errorf("invalid character %q in revision number", c)
		}
	}
	return nil
}

// checkArchName follows dpkg_arch_name_is_illegal.
func checkArchName(s string) error {
	if s == "" {
		return errors.New("may not be empty string")
	}
	if !isAlnum(s[0]) {
		return errors.New("must start with an alphanumeric")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return fmt.Errorf("character %q not allowed (only letters, digits and characters '-')", c)
		}
	}
	return nil
}

// checkArchitecture accepts one concrete architecture or "all": a binary
// package cannot be "any" or a wildcard such as "linux-any".
func checkArchitecture(s string) error {
	if err := checkArchName(s); err != nil {
		return err
	}
	if s == "any" || s == "source" || strings.HasSuffix(s, "-any") || strings.HasPrefix(s, "any-") {
		return errors.New("a binary package needs one concrete architecture or \"all\"")
	}
	return nil
}

func checkMaintainer(s string) error {
	if strings.ContainsAny(s, "\n\r") {
		return errors.New("must be a single line")
	}
	open, closing := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if open <= 0 || closing != len(s)-1 || !strings.Contains(s[open:], "@") || strings.TrimSpace(s[:open]) == "" {
		return errors.New("want \"Full Name <email@address>\"")
	}
	return nil
}

// checkFieldName follows deb822: printable US-ASCII except ':', not starting
// with '#' or '-'.
func checkFieldName(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if s[0] == '#' || s[0] == '-' {
		return errors.New("must not start with '#' or '-'")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ':' {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// checkRelations follows dpkg's f_dependency for one relationship field
// given as a list of comma-separated items.
func checkRelations(field string, items []string) error {
	for _, item := range items {
		if strings.TrimSpace(item) == "" {
			return fmt.Errorf("%s: empty item", field)
		}
		alts := strings.Split(item, "|")
		if len(alts) > 1 {
			switch field {
			case "Depends", "Pre-Depends", "Recommends", "Suggests":
			default:
				return fmt.Errorf("%s: %q: alternatives ('|') are not allowed in %s", field, item, field)
			}
		}
		for _, alt := range alts {
			if err := checkRelation(field, strings.TrimSpace(alt)); err != nil {
				return fmt.Errorf("%s: %q: %w", field, item, err)
			}
		}
	}
	return nil
}

// checkRelation checks one "name[:arch] [(op version)] [[arch ...]]".
func checkRelation(field, s string) error {
	if s == "" {
		return errors.New("empty alternative")
	}
	if strings.Contains(s, ",") {
		return errors.New("give each relation as its own item, not a comma-separated list")
	}
	i := 0
	for i < len(s) && !strings.ContainsRune(" \t\n(:[", rune(s[i])) {
		i++
	}
	name := s[:i]
	if err := checkPackageName(name); err != nil {
		return fmt.Errorf("package name %q: %w", name, err)
	}
	s = s[i:]
	if strings.HasPrefix(s, ":") {
		j := 1
		for j < len(s) && !strings.ContainsRune(" \t\n([", rune(s[j])) {
			j++
		}
		if err := checkArchName(s[1:j]); err != nil {
			return fmt.Errorf("invalid architecture qualifier %q: %w", s[1:j], err)
		}
		s = s[j:]
	}
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, "(") {
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return errors.New("version unterminated: missing ')'")
		}
		inner := strings.TrimSpace(s[1:end])
		s = strings.TrimLeft(s[end+1:], " \t")
		op := ""
		for _, o := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
			if strings.HasPrefix(inner, o) {
				op = o
				break
			}
		}
		switch op {
		case "":
			return fmt.Errorf("bad version relation in %q: want one of <<, <=, =, >=, >>", inner)
		case "<", ">":
			return fmt.Errorf("obsolete relation '%s' in %q: use '%s%s' or '%s='", op, inner, op, op, op)
		}
		if field == "Provides" && op != "=" {
			return fmt.Errorf("only exact versions ('=') may be used in Provides")
		}
		v := strings.TrimSpace(inner[len(op):])
		if err := checkVersion(v); err != nil {
			return fmt.Errorf("error in version %q: %w", v, err)
		}
	}
	if strings.HasPrefix(s, "[") {
		// dpkg-deb rejects architecture restrictions in binary packages:
		// they belong in debian/control and are resolved at build time.
		return errors.New("architecture restrictions ('[...]') are only allowed in source packages; resolve them before building")
	}
	if s != "" {
		return fmt.Errorf("unexpected %q after the relation", s)
	}
	return nil
}
