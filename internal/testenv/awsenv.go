package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// NoCredentials leaves the AWS SDK's default credential chain nothing to
// find for the duration of t (so t must not be parallel): no credential
// variables, no profile, empty shared config and credentials files, no
// web identity or container credentials. imds is the instance metadata
// endpoint the chain asks last, a local stand-in such as an httptest
// server; "" disables that lookup, so that no test asks the metadata
// service of the machine it runs on.
func NoCredentials(t testing.TB, imds string) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	if imds == "" {
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "")
		return
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
}

// Secrets maps credential variables to their values.
type Secrets map[string]string

// FakeCredentials puts made-up credentials into the process environment for
// the duration of t (so t must not be parallel), as systemd does for the
// agent from /etc/autoupdate/credentials, and returns them: the static AWS
// keys, a session token, an ECS container authorization token and a
// generic token. They are not valid anywhere; a test that talks to S3
// gives its client the server's credentials explicitly. The values are
// fresh for each test, so finding one in some text can only mean it
// leaked there.
func FakeCredentials(t testing.TB) Secrets {
	t.Helper()
	s := Secrets{}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "VAULT_TOKEN"} {
		b := make([]byte, 15)
		rand.Read(b)
		s[k] = "fake" + strings.ToUpper(hex.EncodeToString(b))
		t.Setenv(k, s[k])
	}
	return s
}

// File returns s as KEY=VALUE lines, the credentials file's format.
func (s Secrets) File() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s)) {
		b.WriteString(k + "=" + s[k] + "\n")
	}
	return b.String()
}

// Leaks returns the sorted names of the variables whose value appears in
// text.
func (s Secrets) Leaks(text string) []string {
	var names []string
	for k, v := range s {
		if strings.Contains(text, v) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// CheckEnvDump reads the environment a child wrote to path (`env > path`),
// fails t for each AWS_* variable and each of s's values in it, and
// returns it. who names the child in the failures.
func (s Secrets) CheckEnvDump(t testing.TB, path, who string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for line := range strings.Lines(env) {
		if strings.HasPrefix(line, "AWS_") {
			t.Errorf("%s's environment has %s", who, strings.TrimSpace(line))
		}
	}
	if leaks := s.Leaks(env); len(leaks) > 0 {
		t.Errorf("%s saw %v", who, leaks)
	}
	return env
}
