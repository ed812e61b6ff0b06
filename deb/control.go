package deb

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Marshal returns c as a control paragraph, fields in the order dpkg-deb and
// debhelper write them, ending with a newline. It does not validate c.
func (c *Control) Marshal() []byte {
	var b bytes.Buffer
	field := func(name, value string) {
		if value != "" {
			b.WriteString(name + ": " + value + "\n")
		}
	}
	field("Package", c.Package)
	field("Version", c.Version)
	field("Architecture", c.Architecture)
	field("Maintainer", c.Maintainer)
	if c.InstalledSize > 0 {
		field("Installed-Size", strconv.FormatInt(c.InstalledSize, 10))
	}
	for _, r := range c.relations() {
		field(r.name, strings.Join(trimAll(r.items), ", "))
	}
	field("Section", c.Section)
	field("Priority", c.Priority)
	field("Homepage", c.Homepage)
	for _, f := range c.Extra {
		b.WriteString(f.Name + ":" + multiline(f.Value) + "\n")
	}
	b.WriteString("Description: " + c.Synopsis)
	if d := strings.Trim(c.Description, "\n"); d != "" {
		b.WriteString("\n" + continuation(d))
	}
	b.WriteString("\n")
	return b.Bytes()
}

func trimAll(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// multiline formats a field value after "Name:": the first line follows a
// space, the others are continuation lines.
func multiline(v string) string {
	first, rest, ok := strings.Cut(strings.Trim(v, "\n"), "\n")
	s := " " + strings.TrimSpace(first)
	if ok {
		s += "\n" + continuation(rest)
	}
	return s
}

// continuation indents each line by one space and writes blank lines as
// " ." (Debian Policy 5.6.13).
func continuation(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			l = "."
		}
		lines[i] = " " + l
	}
	return strings.Join(lines, "\n")
}

// ParseControl parses a binary package's control file (one deb822
// paragraph, as in DEBIAN/control of a tree dpkg-deb --build takes) into a
// Control. Fields Control has no place for land in Extra, in order. It
// checks the syntax only: call Validate for the fields' values. Errors
// name the line.
func ParseControl(data []byte) (Control, error) {
	fields, err := parseParagraph(string(data))
	if err != nil {
		return Control{}, err
	}
	return controlFromFields(fields)
}

// parseParagraph parses one deb822 paragraph. Continuation lines are kept in
// the value, joined by "\n" with their leading space; they are gathered
// first and added once, so many of them cost linear time.
func parseParagraph(data string) ([]Field, error) {
	var fields []Field
	var cont strings.Builder // the last field's continuation lines
	endField := func() {
		if cont.Len() > 0 {
			fields[len(fields)-1].Value += cont.String()
			cont.Reset()
		}
	}
	for n, line := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		switch {
		case line == "":
			return nil, fmt.Errorf("line %d: blank line inside the control paragraph", n+1)
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				return nil, fmt.Errorf("line %d: continuation line before any field", n+1)
			}
			cont.WriteByte('\n')
			cont.WriteString(line)
		case line[0] == '#':
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: missing ':' after the field name", n+1)
			}
			if err := checkFieldName(name); err != nil {
				return nil, fmt.Errorf("line %d: field name %q: %v", n+1, name, err)
			}
			endField()
			fields = append(fields, Field{Name: name, Value: strings.TrimSpace(value)})
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("empty control paragraph")
	}
	endField()
	return fields, nil
}

// controlFromFields fills a Control from a parsed paragraph.
func controlFromFields(fields []Field) (Control, error) {
	var c Control
	splitRel := func(v string) []string {
		var out []string
		for _, s := range strings.Split(strings.ReplaceAll(v, "\n", " "), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	for _, f := range fields {
		v := f.Value
		switch strings.ToLower(f.Name) {
		case "package":
			c.Package = v
		case "version":
			c.Version = v
		case "architecture":
			c.Architecture = v
		case "maintainer":
			c.Maintainer = v
		case "section":
			c.Section = v
		case "priority":
			c.Priority = v
		case "homepage":
			c.Homepage = v
		case "installed-size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return c, fmt.Errorf("Installed-Size: %q is not a number of KiB", v)
			}
			c.InstalledSize = n
		case "description":
			first, rest, _ := strings.Cut(v, "\n")
			c.Synopsis = strings.TrimSpace(first)
			var lines []string
			for _, l := range strings.Split(rest, "\n") {
				if l == "" {
					continue
				}
				l = l[1:]
				if l == "." {
					l = ""
				}
				lines = append(lines, l)
			}
			c.Description = strings.Join(lines, "\n")
		case "depends":
			c.Depends = splitRel(v)
		case "pre-depends":
			c.PreDepends = splitRel(v)
		case "recommends":
			c.Recommends = splitRel(v)
		case "suggests":
			c.Suggests = splitRel(v)
		case "conflicts":
			c.Conflicts = splitRel(v)
		case "breaks":
			c.Breaks = splitRel(v)
		case "replaces":
			c.Replaces = splitRel(v)
		case "provides":
			c.Provides = splitRel(v)
		default:
			c.Extra = append(c.Extra, Field{Name: f.Name, Value: unfold(v)})
		}
	}
	return c, nil
}

// unfold turns a parsed multi-line value back into the text Marshal takes.
func unfold(v string) string {
	lines := strings.Split(v, "\n")
	for i := 1; i < len(lines); i++ {
		l := strings.TrimPrefix(lines[i], " ")
		if l == "." {
			l = ""
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
