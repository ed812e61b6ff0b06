package configfile

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/debfleet/debfleet/internal/childenv"
	"github.com/debfleet/debfleet/restart"
)

// Bounds on a check command.
const (
	// DefaultCheckTimeout is how long a check command may run when the
	// caller gives no timeout.
	DefaultCheckTimeout = time.Minute
	// maxCheckOutput is how much of a failed check's output is kept.
	maxCheckOutput = 16 << 10
	// waitDelay is how long the pipes stay open after the command was
	// killed, for children it left behind.
	waitDelay = 2 * time.Second
	// minRedacted is the shortest value Redact replaces: shorter ones
	// (1, on, no) would match ordinary words and are not secrets.
	minRedacted = 4
)

// ErrCheckFailed is the error kind of a check command that refused the
// file (a non-zero exit), ran out of time or could not start.
var ErrCheckFailed = errors.New("the check command refused the configuration")

// RunCheck runs command with sh -c, the configuration's path as $1, in
// the environment of this process without credentials (childenv.Environ:
// the check has no business with the publisher's AWS keys), for at most
// timeout (0: DefaultCheckTimeout). It returns nil when the command exits
// 0. Otherwise the error wraps ErrCheckFailed and holds the command's
// output (stdout and stderr, the first 16 KiB) with every value of f and
// every credential of the environment redacted: the command is the
// user's own, but it may print the file it read.
func RunCheck(ctx context.Context, f *File, command string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(timeout, DefaultCheckTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command, "check-cmd", f.Path)
	cmd.Env = childenv.Environ()
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	out := &capped{max: maxCheckOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	why := err.Error()
	if ctx.Err() == context.DeadlineExceeded {
		why = fmt.Sprintf("no answer within %s, killed", cmp.Or(timeout, DefaultCheckTimeout))
	}
	shown := childenv.Redact(Redact(out.String(), f.Vars))
	if s := strings.TrimSpace(shown); s != "" {
		why += "; its output, the file's values redacted:\n" + indent(s)
		if out.cut {
			why += "\n    (output cut at 16 KiB)"
		}
	}
	return fmt.Errorf("%w: %s", ErrCheckFailed, why)
}

// Redact returns s with the value of every assignment in vars of at least
// 4 bytes replaced by "[value of KEY]", longest values first so that a
// value holding another is replaced whole.
func Redact(s string, vars []restart.EnvVar) string {
	vs := slices.Clone(vars)
	slices.SortFunc(vs, func(a, b restart.EnvVar) int { return cmp.Compare(len(b.Value), len(a.Value)) })
	var pairs []string
	for _, v := range vs {
		if len(v.Value) >= minRedacted {
			pairs = append(pairs, v.Value, "[value of "+v.Key+"]")
		}
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// capped keeps the first max bytes written to it and counts the rest as
// cut; the writer never fails, so the command is never stopped by a full
// buffer.
type capped struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.cut = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) String() string { return c.buf.String() }
