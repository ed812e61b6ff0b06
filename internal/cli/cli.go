package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// NewFlagSet returns a flag set for a command that reports errors instead of
// exiting, writes to w, and answers --help with help followed by the flags.
func NewFlagSet(name, help string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args with fs, accepting flags before, between and after
// positional arguments (`pkgdeb publish x.deb s3://b/k --force`), which the
// standard library stops at. A lone "--" ends flag parsing. It returns the
// positional arguments in order; flag.ErrHelp after printing help for
// -h/--help; and a *UsageError for an unknown flag or a bad value.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag.Parse stops at the first non-flag; "--" is consumed by it, in
		// which case everything left is positional.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// Strings is a repeatable string flag: each use appends a value.
type Strings []string

// String implements flag.Value.
func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value.
func (s *Strings) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*s = append(*s, v)
	return nil
}

// UsageError marks an error caused by how the command was called (a missing
// argument, a bad flag value), as opposed to a failure while doing the work.
// Commands exit with status 2 for these, as flag.ExitOnError does.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ExitError is a failure that asks for a particular exit status (other
// than 1, which any other error gives, and 2, a UsageError's): pkgdeb
// wait's 3 for a timeout, which a CI step tells apart from a failed
// deploy.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *ExitError) Unwrap() error { return e.Err }
