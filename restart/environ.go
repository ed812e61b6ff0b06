package restart

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// fromFilesEnv names the environment variable in which each generation
// passes on which of its variables came from Options.EnvFiles: the next
// upgrade drops those before it reads the files again, so a variable
// deleted from a file is gone from the next generation.
const fromFilesEnv = "RESTART_ENV_FROM_FILES"

// useEnvFiles makes each upgrade started through h read files (see
// Options.EnvFiles) into the new generation's environment. In a first
// generation (no parent) it also sets them in this process's environment,
// so that code after New sees what every later generation will. A file
// that cannot be read here is New's error: there is no older generation to
// keep serving.
func useEnvFiles(h handoff, files []string, log *slog.Logger) (handoff, error) {
	if len(files) == 0 {
		return h, nil
	}
	abs := make([]string, len(files))
	for i, f := range files {
		optional, path := strings.HasPrefix(f, "-"), strings.TrimPrefix(f, "-")
		p, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("resolve environment file %s: %w", path, err)
		}
		abs[i] = p
		if optional {
			abs[i] = "-" + p
		}
	}
	if !h.HasParent() {
		vars, err := readEnvFiles(abs)
		if err != nil {
			return nil, err
		}
		// Whatever a process we did not start left in fromFilesEnv names
		// its variables, not ours.
		base := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, fromFilesEnv+"=") })
		if _, _, err := setEnviron(nextEnviron(base, vars)); err != nil {
			return nil, fmt.Errorf("set the environment files' variables: %w", err)
		}
	}
	if _, solo := h.(*soloHandoff); solo {
		return h, nil
	}
	return &envFilesHandoff{handoff: h, files: abs, log: log}, nil
}

// envFilesHandoff reads the environment files before each upgrade and
// starts the new generation with them. tableflip v1.2.3 gives the new
// process this process's environment (os.Environ) when Upgrade starts it,
// and takes no other: so the new environment is set here for the time of
// Upgrade, and the previous one put back when it returns.
type envFilesHandoff struct {
	handoff
	files []string
	log   *slog.Logger
}

// Upgrade returns the hand-off's error unwrapped, so that
// upgradeWhenAllowed still recognizes tableflip's "not yet" answers.
func (h *envFilesHandoff) Upgrade() error {
	vars, err := readEnvFiles(h.files)
	if err != nil {
		return err
	}
	changed, restore, err := setEnviron(nextEnviron(os.Environ(), vars))
	if err != nil {
		return fmt.Errorf("set the environment files' variables: %w", err)
	}
	defer restore()
	if len(changed) > 0 {
		// Names only: values may be secrets.
		h.log.Info("new environment from files", "changed", changed)
	}
	return h.handoff.Upgrade()
}

// readEnvFiles reads files in order, as systemd reads EnvironmentFile=
// lines: a later assignment overrides an earlier one, and a file whose
// name starts with "-" may be missing. Any other problem is an error that
// names the file and line.
func readEnvFiles(files []string) ([]EnvVar, error) {
	var vars []EnvVar
	for _, f := range files {
		optional, path := strings.HasPrefix(f, "-"), strings.TrimPrefix(f, "-")
		v, err := readEnvFile(path)
		if optional && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read environment file: %w", err)
		}
		vars = append(vars, v...)
	}
	return vars, nil
}

// readEnvFile reads one environment file. It must be a regular file (a
// FIFO would block the upgrade) that not everyone may write (whoever
// writes it chooses the service's environment, LD_PRELOAD included), and
// may not set the variables restart and tableflip keep for themselves.
func readEnvFile(path string) ([]EnvVar, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("%s: writable by every user (mode %v)", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars, err := ParseEnvFile(f, path)
	if err != nil {
		return nil, err
	}
	for _, v := range vars {
		if v.Key == fromFilesEnv || strings.HasPrefix(v.Key, "TABLEFLIP_") {
			return nil, fmt.Errorf("%s:%d: %s is set by restart itself", path, v.Line, v.Key)
		}
	}
	return vars, nil
}

// nextEnviron returns the environment of the next generation: current
// without the variables it took from files (named in fromFilesEnv), then
// vars (the last assignment of a name wins), then fromFilesEnv naming
// them. A variable set both by the supervisor and by a file is the file's;
// once deleted from the file it is gone, not back to the supervisor's
// value, which no generation knows (systemd merged them before the first
// one started).
func nextEnviron(current []string, vars []EnvVar) []string {
	drop := map[string]bool{fromFilesEnv: true}
	for _, kv := range current {
		if names, ok := strings.CutPrefix(kv, fromFilesEnv+"="); ok {
			for _, n := range strings.Split(names, ",") {
				drop[n] = true
			}
		}
	}
	last := make(map[string]string, len(vars))
	var names []string
	for _, v := range vars {
		if _, seen := last[v.Key]; !seen {
			names = append(names, v.Key)
		}
		last[v.Key] = v.Value
	}
	var out []string
	for _, kv := range current {
		k, _, _ := strings.Cut(kv, "=")
		if _, fromFile := last[k]; !drop[k] && !fromFile {
			out = append(out, kv)
		}
	}
	for _, n := range names {
		out = append(out, n+"="+last[n])
	}
	if len(names) > 0 {
		out = append(out, fromFilesEnv+"="+strings.Join(slices.Sorted(slices.Values(names)), ","))
	}
	return out
}

// setEnviron makes env this process's environment, changing only the
// variables that differ. It returns their names, and a function that puts
// their previous values back.
func setEnviron(env []string) (changed []string, restore func(), err error) {
	want, had := envMap(env), envMap(os.Environ())
	restore = func() {
		for _, k := range changed {
			if v, ok := had[k]; ok {
				_ = os.Setenv(k, v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
	for k, v := range want {
		if old, ok := had[k]; ok && old == v {
			continue
		}
		if err := os.Setenv(k, v); err != nil {
			restore()
			return nil, func() {}, fmt.Errorf("set %s: %w", k, err)
		}
		changed = append(changed, k)
	}
	for k := range had {
		if _, ok := want[k]; !ok {
			if err := os.Unsetenv(k); err != nil {
				restore()
				return nil, func() {}, fmt.Errorf("unset %s: %w", k, err)
			}
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	return changed, restore, nil
}

// envMap indexes KEY=VALUE entries by key; the first of a repeated key
// wins, as for os.Getenv. Windows' "=C:=C:\dir" entries are left out: they
// are not variables a file can set.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := m[k]; k != "" && !seen {
			m[k] = v
		}
	}
	return m
}
