package restart_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/restart"
)

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}, ""},
		{"comments and blanks", "# a comment\n\n  # indented\nA=1 # trailing\n", map[string]string{"A": "1"}, ""},
		{"single quotes are literal", `A='x "y" $z # not a comment'`, map[string]string{"A": `x "y" $z # not a comment`}, ""},
		{"double quotes with escapes", `A="say \"hi\" \\ \$HOME" # c`, map[string]string{"A": `say "hi" \ $HOME`}, ""},
		{"export prefix", "export A=1", map[string]string{"A": "1"}, ""},
		{"empty value", "A=\nB=''", map[string]string{"A": "", "B": ""}, ""},
		{"equals in value", "A=x=y", map[string]string{"A": "x=y"}, ""},
		{"no equals", "JUSTAWORD", nil, "want KEY=VALUE"},
		{"bad key", "A-B=1", nil, "want KEY=VALUE"},
		{"unterminated", `A="oops`, nil, "unterminated double quote"},
		{"junk after quote", `A='x' y`, nil, "text after the closing quote"},
		// A value may be a secret: errors name the line and the key only.
		{"a secret without its key", "A=1\nhunter2-secret\n", nil, "f:2: want KEY=VALUE, with KEY"},
		{"a secret after a quote", "PASSWORD='x' hunter2-secret", nil, "f:1: PASSWORD: text after the closing quote"},
		{"a secret after a double quote", `PASSWORD="x" hunter2-secret`, nil, "f:1: PASSWORD: text after the closing quote"},
		{"a secret in a bad key", "hunter2 secret=1", nil, "f:1: want KEY=VALUE"},
		{"line too long", "A=" + strings.Repeat("x", 64<<10), nil, "f:1: line longer than"},
		{"file too large", strings.Repeat("A=1234567890123456789012345678901234567890\n", 30_000), nil, "f: larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, err := restart.ParseEnvFile(strings.NewReader(tt.in), "f")
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a value: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, v := range vars {
				got[v.Key] = v.Value
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEnvFileShellAgrees: what ParseEnvFile reads is what sh reads when it
// sources the same file, since operators test their file that way.
func TestEnvFileShellAgrees(t *testing.T) {
	content := `# settings
AUTOUPDATE_SOURCE=s3://b/k
AUTOUPDATE_RELOAD_CMD='systemctl reload "hello"'
AUTOUPDATE_HEALTH_URL="http://127.0.0.1:8080/healthz"
AUTOUPDATE_PUBLIC_KEY="/etc/a.pub /etc/b.pub" # two keys
`
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	vars, err := restart.ParseEnvFile(strings.NewReader(content), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		out, err := exec.Command("sh", "-c", `. "$1"; eval "printf %s \"\$$2\""`, "sh", path, v.Key).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != v.Value {
			t.Errorf("%s: sh reads %q, we read %q", v.Key, out, v.Value)
		}
	}
}
