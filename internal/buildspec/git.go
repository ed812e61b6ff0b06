package buildspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// describeRE splits `git describe --tags --long` output: TAG-N-gHASH.
var describeRE = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)

// DescribeToVersion turns `git describe --tags` output into a Debian
// version that sorts the way the releases do:
//
//	v1.2.3             -> 1.2.3
//	v1.2.3-0-gabcdef   -> 1.2.3          (--long form, on the tag)
//	v1.2.3-4-gabcdef   -> 1.2.3+git4.abcdef
//	v1.2.3-rc.1        -> 1.2.3~rc.1     (a pre-release sorts before 1.2.3)
//	v1.2.3-rc.1-4-gab  -> 1.2.3~rc.1+git4.ab
//
// The result has no Debian revision: a hyphen would split the version.
func DescribeToVersion(describe string) (string, error) {
	describe = strings.TrimSpace(describe)
	tag, suffix := describe, ""
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		tag = m[1]
		if m[2] != "0" {
			suffix = "+git" + m[2] + "." + m[3]
		}
	}
	v, err := tagToVersion(tag)
	if err != nil {
		return "", err
	}
	return v + suffix, nil
}

func tagToVersion(tag string) (string, error) {
	v := tag
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if v == "" || v[0] < '0' || v[0] > '9' {
		return "", fmt.Errorf("git tag %q is not a version: want v1.2.3 or 1.2.3", tag)
	}
	// SemVer's build metadata (+...) stays as is; its pre-release (after the
	// first '-') becomes '~', which Debian sorts before the release.
	core, build, _ := strings.Cut(v, "+")
	if pre, rest, ok := strings.Cut(core, "-"); ok {
		core = pre + "~" + strings.ReplaceAll(rest, "-", ".")
	}
	if build != "" {
		core += "+" + strings.ReplaceAll(build, "-", ".")
	}
	var b strings.Builder
	for _, c := range core {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.ContainsRune(".+~", c):
			b.WriteRune(c)
		default:
			b.WriteByte('.')
		}
	}
	return b.String(), nil
}

// GitVersion returns the Debian version of the git working tree at dir
// ("" for the current directory) from `git describe --tags`, converted by
// DescribeToVersion. Without any tag it returns 0.0.0+git<N>.<hash>, N being
// the number of commits, so that versions still grow with history.
func GitVersion(ctx context.Context, dir string) (string, error) {
	out, err := git(ctx, dir, "describe", "--tags", "--long", "--abbrev=7")
	if err == nil {
		return DescribeToVersion(out)
	}
	// No tag reachable (or no commit at all: then rev-list fails too).
	n, err2 := git(ctx, dir, "rev-list", "--count", "HEAD")
	if err2 != nil {
		return "", fmt.Errorf("version from git: %w", err)
	}
	hash, err2 := git(ctx, dir, "rev-parse", "--short=7", "HEAD")
	if err2 != nil {
		return "", fmt.Errorf("version from git: %w", err2)
	}
	return "0.0.0+git" + n + "." + hash, nil
}

// git runs git in dir and returns its trimmed standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// ModTime returns the time every mtime in the package is clamped to:
// SOURCE_DATE_EPOCH when set (getenv is os.Getenv in production), else the
// commit time of HEAD in the git working tree at dir when there is one, else
// the Unix epoch. Never the current time, so that rebuilding the same
// sources gives the same bytes.
func ModTime(ctx context.Context, dir string, getenv func(string) string) (time.Time, error) {
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	out, err := git(ctx, dir, "log", "-1", "--format=%ct")
	if err != nil {
		// Not a git working tree, no commit yet, or no git: all mean "no
		// source date", which is the epoch. A cancelled context is not.
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("git log: unexpected commit time " + strconv.Quote(out))
	}
	return time.Unix(n, 0).UTC(), nil
}
