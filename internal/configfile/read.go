package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/debfleet/debfleet/restart"
)

// MaxSize is the largest configuration published: a configuration is a
// few settings, and every host of a fleet downloads and keeps each one.
const MaxSize = 64 << 10

// ErrTooLarge is the error kind of a file over MaxSize.
var ErrTooLarge = errors.New("too large for a configuration")

// File is a configuration file as read for publishing: its bytes (what
// is uploaded) and the assignments they hold.
type File struct {
	Path  string
	Bytes []byte
	Vars  []restart.EnvVar
}

// Read reads the environment file at path, at most MaxSize bytes, and
// checks it (Check). The bytes returned are the ones checked: publish
// uploads them, not the file again.
func Read(path string) (*File, error) {
	// Checked before opening: opening a FIFO would wait for a writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: %w: more than %d KiB (%d bytes); keep large data out of the environment (a file the service reads, a secrets manager)", path, ErrTooLarge, MaxSize>>10, fi.Size())
	}
	vars, err := Check(b, path)
	if err != nil {
		return nil, err
	}
	return &File{Path: path, Bytes: b, Vars: vars}, nil
}

// Check parses b, an environment file named name, and returns its
// assignments. Beyond what restart.ParseEnvFile refuses (a line that is
// not KEY=VALUE, an unterminated quote, text after a closing quote, a NUL
// byte), it refuses a key set twice, which is almost always a mistake
// (the later line silently wins), and a file with no assignment at all.
// Errors name the line and the key, never a value.
func Check(b []byte, name string) ([]restart.EnvVar, error) {
	vars, err := restart.ParseEnvFile(bytes.NewReader(b), name)
	if err != nil {
		return nil, err
	}
	first := map[string]int{}
	for _, v := range vars {
		if l, ok := first[v.Key]; ok {
			return nil, fmt.Errorf("%s:%d: %s is set again (first on line %d): remove one of them", name, v.Line, v.Key, l)
		}
		first[v.Key] = v.Line
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s: no KEY=VALUE line: an empty configuration would unset every setting", name)
	}
	return vars, nil
}
