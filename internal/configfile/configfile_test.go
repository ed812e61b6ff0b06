package configfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

const secret = "hunter2-very-secret"

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		keys     []string
		wantErr  string
	}{
		{"settings", "# c\nexport A=1\nB='" + secret + "'\n", []string{"A", "B"}, ""},
		{"a key set twice", "A=1\nB=2\nA=" + secret + "\n", nil, "f:3: A is set again (first on line 1): remove one of them"},
		{"a key set twice, once exported", "A=1\nexport A=2\n", nil, "f:2: A is set again"},
		{"no assignment", "# only a comment\n\n", nil, "no KEY=VALUE line"},
		{"empty", "", nil, "no KEY=VALUE line"},
		{"unterminated", "A=1\nB=\"" + secret + "\n", nil, "f:2: B: unterminated double quote"},
		{"a bare secret", secret + "\n", nil, "f:1: want KEY=VALUE"},
		{"NUL", "A=1\x00\n", nil, "f:1: NUL byte"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars, err := Check([]byte(tt.in), "f")
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows a value: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, v := range vars {
				keys = append(keys, v.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tt.keys, ",") {
				t.Errorf("keys %q, want %q", keys, tt.keys)
			}
		})
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exact := "A=" + strings.Repeat("x", MaxSize-3) + "\n"
	f, err := Read(write("max.env", exact))
	if err != nil || len(f.Bytes) != MaxSize {
		t.Fatalf("a file of MaxSize bytes: %v", err)
	}
	if _, err := Read(write("big.env", exact+"B=1\n")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a file over MaxSize: %v", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestRedact(t *testing.T) {
	vars := []restart.EnvVar{{Key: "A", Value: "on"}, {Key: "PW", Value: secret}, {Key: "PREFIX", Value: "hunter2"}, {Key: "URL", Value: "https://db.example.com"}}
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"A is on", "A is on"},
		{"password " + secret + " rejected", "password [value of PW] rejected"},
		{"hunter2 alone", "[value of PREFIX] alone"},
		{"cannot reach https://db.example.com/x", "cannot reach [value of URL]/x"},
	} {
		if got := Redact(tt.in, vars); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hello.env")
	body := "PW='" + secret + "'\nGREETING=hello\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	for _, tt := range []struct {
		name, cmd string
		timeout   time.Duration
		want      string // "" for success
	}{
		{"passes", `grep -q '^GREETING=hello$' "$1"`, 0, ""},
		{"refuses", `echo "PW is $(sed -n "s/^PW='\(.*\)'/\1/p" "$1")"; exit 4`, 0, "exit status 4; its output, the file's values redacted:\n    PW is [value of PW]"},
		{"sees no credentials", `test -z "$AWS_SECRET_ACCESS_KEY" || { echo "$AWS_SECRET_ACCESS_KEY"; exit 1; }; exit 5`, 0, "exit status 5"},
		{"output is capped", `yes 0123456789 | head -c 100000; exit 1`, 0, "(output cut at 16 KiB)"},
		// The child keeps the pipe open: the group is killed, not only sh.
		{"times out with a child", `sleep 30 & sleep 30`, 300 * time.Millisecond, "no answer within 300ms, killed"},
		{"not found", `/no/such/checker "$1"`, 0, "exit status 127"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := RunCheck(context.Background(), f, tt.cmd, tt.timeout)
			if d := time.Since(start); d > 20*time.Second { // the sleeps would take 30 s
				t.Errorf("took %v", d)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "EXAMPLEKEY")) {
				t.Errorf("the error shows a secret: %v", err)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}
