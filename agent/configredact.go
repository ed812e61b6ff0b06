package agent

import (
	"bytes"
	"cmp"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/restart"
)

// minHiddenValue is the shortest value hidden from errors: shorter ones
// ("1", "on", "443") are no secret, and replacing them would garble the
// message around them.
const minHiddenValue = 4

// hiddenValue stands for a config value in an error.
const hiddenValue = "[config value]"

// hideValues returns err with every value of the configs rels (their kept
// copies) replaced by hiddenValue. A reload command's output is part of
// its error, and a service failing to start may well print its
// environment: without this, a secret would reach the log, the host's
// status object and the fleet's failure records. The result still wraps
// err, for errors.Is; only its text changes.
func (c *ConfigFile) hideValues(err error, rels ...*state.Release) error {
	if err == nil {
		return nil
	}
	var secrets []string
	for _, rel := range rels {
		if rel != nil && rel.Deb != "" {
			secrets = append(secrets, c.valuesOf(rel)...)
		}
	}
	if len(secrets) == 0 {
		return err
	}
	// Longest first, so that a value containing another is hidden whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range slices.Compact(secrets) {
		pairs = append(pairs, s, hiddenValue)
	}
	msg := strings.NewReplacer(pairs...).Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &hiddenError{msg: msg, err: err}
}

// valuesOf lists what could be secret in rel's kept copy: each value when
// it is an environment file, and each line whatever its format (a config
// channel may carry any small file).
func (c *ConfigFile) valuesOf(rel *state.Release) []string {
	f, err := os.Open(c.Dir.DebPath(rel.Deb))
	if err != nil {
		return nil
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, MaxConfigSize))
	if err != nil {
		return nil
	}
	var out []string
	keep := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= minHiddenValue {
			out = append(out, s)
		}
	}
	if vars, err := restart.ParseEnvFile(bytes.NewReader(body), rel.Version); err == nil {
		for _, v := range vars {
			keep(v.Value)
		}
	}
	for line := range strings.Lines(string(body)) {
		keep(line)
	}
	return out
}

// hiddenError is an error whose text has its config values hidden.
type hiddenError struct {
	msg string
	err error
}

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Unwrap() error { return e.err }
