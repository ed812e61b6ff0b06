package restart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds on what ParseEnvFile reads: an environment file is a few settings,
// and whoever can make it large should not make a process read it all.
const (
	maxEnvFileSize = 1 << 20
	maxEnvFileLine = 64 << 10
)

// EnvVar is one KEY=VALUE assignment from an environment file, with the
// line it was on.
type EnvVar struct {
	Key, Value string
	Line       int
}

// ParseEnvFile reads /etc/default-style assignments, the format systemd's
// EnvironmentFile= and a shell's "." both accept: one KEY=VALUE per line,
// blank lines and lines starting with # ignored, an optional "export "
// prefix, and values optionally in single quotes (taken literally) or
// double quotes (where \" \\ \$ and \` are escapes). An unquoted value ends
// at " #", so a trailing comment is allowed. name labels errors, which
// name the line. It reads at most 1 MiB, in lines of at most 64 KiB: more
// is an error. Errors never quote the file's text (values may be
// secrets): they name the file, the line and the key. Options.EnvFiles and the autoupdate agent's own environment
// file are read with it.
func ParseEnvFile(r io.Reader, name string) ([]EnvVar, error) {
	var vars []EnvVar
	lr := &io.LimitedReader{R: r, N: maxEnvFileSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxEnvFileLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("%s:%d: NUL byte: no environment can hold it", name, n)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, raw, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvKey(key) {
			// The line is not quoted: it may be a secret pasted without
			// its name.
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, with KEY of letters, digits and _ (not starting with a digit)", name, n)
		}
		val, err := unquote(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, n, key, err)
		}
		vars = append(vars, EnvVar{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, n+1, maxEnvFileLine)
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxEnvFileSize)
	}
	return vars, nil
}

func validEnvKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range k {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func unquote(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote")
		}
		if rest := strings.TrimSpace(s[end+2:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", errors.New("text after the closing quote")
		}
		return s[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				b.WriteByte(s[i+1])
				i++
			case c == '"':
				if rest := strings.TrimSpace(s[i+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
					return "", errors.New("text after the closing quote")
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated double quote")
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s, nil
}
