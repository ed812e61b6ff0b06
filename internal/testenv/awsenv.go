package testenv

import (
	"os"
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
