package restart

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNextEnviron(t *testing.T) {
	vars := func(kv ...string) []EnvVar {
		var out []EnvVar
		for i, s := range kv {
			k, v, _ := strings.Cut(s, "=")
			out = append(out, EnvVar{Key: k, Value: v, Line: i + 1})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		current []string
		vars    []EnvVar
		want    []string
	}{
		{"nothing from files", []string{"PATH=/bin", "X=1"}, nil, []string{"PATH=/bin", "X=1"}},
		{"a file overrides what was inherited",
			[]string{"PATH=/bin", "A=inherited"}, vars("A=file", "B=1"),
			[]string{"PATH=/bin", "A=file", "B=1", "RESTART_ENV_FROM_FILES=A,B"}},
		{"a variable deleted from the file is removed",
			[]string{"PATH=/bin", "A=file", "B=1", "RESTART_ENV_FROM_FILES=A,B"}, vars("A=new"),
			[]string{"PATH=/bin", "A=new", "RESTART_ENV_FROM_FILES=A"}},
		{"every variable deleted",
			[]string{"PATH=/bin", "A=x", "RESTART_ENV_FROM_FILES=A"}, nil,
			[]string{"PATH=/bin"}},
		{"the last assignment wins, in the files' order",
			[]string{"PATH=/bin"}, vars("Z=1", "B=2", "Z=3"),
			[]string{"PATH=/bin", "Z=3", "B=2", "RESTART_ENV_FROM_FILES=B,Z"}},
		{"values with = and empty values",
			nil, vars("A=x=y", "E="),
			[]string{"A=x=y", "E=", "RESTART_ENV_FROM_FILES=A,E"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextEnviron(tc.current, tc.vars); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReadEnvFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := file("first", "A=1\nB=1\n", 0o644)
	second := file("second", "# later wins\nB=2\n", 0o644)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name    string
		files   []string
		want    string // the variables, as nextEnviron orders them
		wantErr string
	}{
		{"later files override earlier ones", []string{first, second}, "A=1 B=2", ""},
		{"an optional file may be missing", []string{"-" + missing, first}, "A=1 B=1", ""},
		{"an optional file that exists is read", []string{"-" + second}, "B=2", ""},
		{"a required file may not", []string{first, missing}, "", "missing: no such file"},
		{"a malformed file", []string{first, file("bad", "A=1\nnot an assignment\n", 0o644)}, "", "bad:2: want KEY=VALUE"},
		{"restart's own variable", []string{file("own", "RESTART_ENV_FROM_FILES=PATH\n", 0o644)}, "", "own:1: RESTART_ENV_FROM_FILES is set by restart itself"},
		{"tableflip's variable", []string{file("tf", "TABLEFLIP_HAS_PARENT_7DIU3=\n", 0o644)}, "", "tf:1: TABLEFLIP_HAS_PARENT_7DIU3 is set by restart itself"},
		{"writable by everyone", []string{file("open", "A=1\n", 0o666)}, "", "open: writable by every user"},
		{"not a regular file", []string{"-" + dir}, "", "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, err := readEnvFiles(tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			env := nextEnviron(nil, vars)
			if got := strings.Join(env[:len(env)-1], " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// isolateEnv makes keys unset for the test and puts them back after it.
func isolateEnv(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range append(keys, fromFilesEnv) {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// relevantEnv is what these tests set, for their failure messages.
func relevantEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return !strings.HasPrefix(kv, "RESTART_") })
}

// childEnvHandoff stands for tableflip: Upgrade records the environment a
// new process would get (os.Environ) and returns err.
type childEnvHandoff struct {
	*soloHandoff
	env []string
	err error
}

func (*childEnvHandoff) HasParent() bool { return true }

func (h *childEnvHandoff) Upgrade() error {
	h.env = os.Environ()
	return h.err
}

func TestEnvFilesHandoff(t *testing.T) {
	isolateEnv(t, "RESTART_TEST_A", "RESTART_TEST_GONE")
	t.Setenv("RESTART_TEST_GONE", "from an older file")
	t.Setenv(fromFilesEnv, "RESTART_TEST_GONE")
	path := filepath.Join(t.TempDir(), "env")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inner := &childEnvHandoff{soloHandoff: newSoloHandoff()}
	h, err := useEnvFiles(inner, []string{path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	write("RESTART_TEST_A='two words'\n")
	if err := h.Upgrade(); err != nil {
		t.Fatal(err)
	}
	child := envMap(inner.env)
	if child["RESTART_TEST_A"] != "two words" || child[fromFilesEnv] != "RESTART_TEST_A" {
		t.Errorf("new process's environment: %q", inner.env)
	}
	if _, ok := child["RESTART_TEST_GONE"]; ok {
		t.Errorf("a variable no longer in the file was passed on: %q", inner.env)
	}
	if os.Getenv("RESTART_TEST_A") != "" || os.Getenv("RESTART_TEST_GONE") != "from an older file" || os.Getenv(fromFilesEnv) != "RESTART_TEST_GONE" {
		t.Errorf("this process's environment was not put back: %q", relevantEnv())
	}

	// tableflip's "not yet" must reach upgradeWhenAllowed as it is.
	inner.err = errors.New(parentRunning)
	if err := h.Upgrade(); err == nil || !notYet(err) {
		t.Errorf("Upgrade = %v, want tableflip's own %q", err, parentRunning)
	}

	inner.env = nil
	write("RESTART_TEST_A=\"unterminated\n")
	if err := h.Upgrade(); err == nil || !strings.Contains(err.Error(), path+":1: RESTART_TEST_A: unterminated double quote") {
		t.Errorf("Upgrade with a malformed file = %v", err)
	}
	if inner.env != nil {
		t.Errorf("a new process was started with a malformed file")
	}
}

func TestEnvFilesFirstGeneration(t *testing.T) {
	isolateEnv(t, "RESTART_TEST_KEEP", "RESTART_TEST_B")
	// A process we did not start (a shell, another service) left these.
	t.Setenv("RESTART_TEST_KEEP", "1")
	t.Setenv(fromFilesEnv, "RESTART_TEST_KEEP")
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, []byte("RESTART_TEST_B=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	solo := newSoloHandoff()
	h, err := useEnvFiles(solo, []string{path, "-" + path + ".missing"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if h != handoff(solo) {
		t.Errorf("the solo hand-off was wrapped: Upgrade would not say it is unsupported")
	}
	if os.Getenv("RESTART_TEST_KEEP") != "1" || os.Getenv("RESTART_TEST_B") != "2" || os.Getenv(fromFilesEnv) != "RESTART_TEST_B" {
		t.Errorf("first generation's environment: %q", relevantEnv())
	}
	if _, err := useEnvFiles(solo, []string{path + ".missing"}, slog.New(slog.DiscardHandler)); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing required file: err = %v", err)
	}
}
