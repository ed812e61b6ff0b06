package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRecover: a dead generation's jobs go back to new/, unless their
// result exists; a live generation's stay where they are.
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "claimed", strconv.Itoa(1<<30)) // above Linux's largest PID
	live := filepath.Join(dir, "claimed", strconv.Itoa(os.Getppid()))
	for path, content := range map[string]string{
		filepath.Join(dead, "unfinished"):      "a",
		filepath.Join(dead, "finished"):        "b",
		filepath.Join(dir, "done", "finished"): "result",
		filepath.Join(live, "running"):         "c",
		sp.claimed("mine"):                     "d",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.recover(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		filepath.Join(dir, "new", "unfinished"): true,
		filepath.Join(dir, "new", "finished"):   false,
		filepath.Join(dir, "done", "finished"):  true,
		dead:                                    false,
		filepath.Join(live, "running"):          true,
		sp.claimed("mine"):                      true,
	} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", path, err == nil, want)
		}
	}
}
