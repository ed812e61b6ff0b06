package deb

import (
	"bytes"
	"fmt"
	"strings"
)

// list returns the scripts that are set, in control tarball order, checking
// each starts with "#!".
func (s Scripts) list() ([]Field, error) {
	var out []Field
	for _, sc := range []struct {
		name string
		body []byte
	}{{"config", s.Config}, {"postinst", s.Postinst}, {"postrm", s.Postrm}, {"preinst", s.Preinst}, {"prerm", s.Prerm}} {
		if sc.body == nil {
			continue
		}
		if !bytes.HasPrefix(sc.body, []byte("#!")) {
			return nil, fmt.Errorf("%s: a maintainer script must start with \"#!\" (e.g. #!/bin/sh)", sc.name)
		}
		out = append(out, Field{Name: sc.name, Value: string(sc.body)})
	}
	return out, nil
}

// list returns the control files that are set, in control tarball order,
// checking the triggers file as dpkg parses it.
func (c ControlFiles) list() ([]Field, error) {
	if c.Triggers != nil {
		if err := checkTriggers(c.Triggers); err != nil {
			return nil, err
		}
	}
	var out []Field
	for _, f := range []struct {
		name string
		body []byte
	}{{"shlibs", c.Shlibs}, {"symbols", c.Symbols}, {"templates", c.Templates}, {"triggers", c.Triggers}} {
		if f.body != nil {
			out = append(out, Field{Name: f.name, Value: string(f.body)})
		}
	}
	return out, nil
}

// triggerDirectives are the directives of deb-triggers(5).
var triggerDirectives = map[string]bool{
	"interest": true, "interest-await": true, "interest-noawait": true,
	"activate": true, "activate-await": true, "activate-noawait": true,
}

// space is what dpkg's c_iswhite takes for white space.
const space = " \t\r\v\f"

// checkTriggers parses a triggers file as dpkg's trig_parse_ci does when it
// unpacks the package: blank lines and "#" comments, else a directive and
// one trigger name of printable ASCII.
func checkTriggers(b []byte) error {
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.Trim(line, space)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.IndexAny(line, space)
		if sp < 0 {
			return fmt.Errorf("triggers line %d: %q: want a directive and a trigger name, e.g. \"interest-noawait /usr/share/foo\"", i+1, line)
		}
		directive, name := line[:sp], strings.TrimLeft(line[sp:], space)
		if !triggerDirectives[directive] {
			return fmt.Errorf("triggers line %d: unknown directive %q (want interest, interest-await, interest-noawait, activate, activate-await or activate-noawait)", i+1, directive)
		}
		for _, r := range name {
			if r <= ' ' || r >= 0o177 {
				return fmt.Errorf("triggers line %d: trigger name %q: only printable ASCII without spaces is allowed", i+1, name)
			}
		}
	}
	return nil
}
