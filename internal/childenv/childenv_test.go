package childenv

import (
	"slices"
	"testing"
)

func TestScrub(t *testing.T) {
	kept := []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"DEBIAN_FRONTEND=noninteractive", "DPKG_COLORS=never", "http_proxy=http://proxy:3128",
		"AUTOUPDATE_SOURCE=s3://acme/hello.deb", "INVOCATION_ID=abc", "KEYBOARD=us", "EMPTY=",
	}
	dropped := []string{
		// AWS credentials, and where the SDK would find more.
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLE", "AWS_CONTAINER_AUTHORIZATION_TOKEN=Basic abc",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials",
		"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/token", "AWS_SHARED_CREDENTIALS_FILE=/root/.aws/credentials",
		"AWS_PROFILE=prod", "AWS_REGION=eu-west-3", "AWS_ENDPOINT_URL_S3=https://s3.example.com", "aws_secret_access_key=x",
		// Any credential by its name.
		"VAULT_TOKEN=s.abc", "GITHUB_TOKEN=ghp_x", "AZURE_CLIENT_SECRET=x", "PGPASSWORD=x", "MYSQL_PASSWD=x",
		"GOOGLE_APPLICATION_CREDENTIALS=/key.json", "SSH_PRIVATE_KEY=x", "DD_API_KEY=x", "MINIO_ACCESS_KEY=x",
		"SSH_AUTH_SOCK=/tmp/ssh-x/agent.1",
		// A webhook's URL lets whoever has it post.
		"AUTOUPDATE_NOTIFY_URL=https://hooks.slack.com/services/T0/B0/XXXX", "SLACK_WEBHOOK=https://hooks.slack.com/x",
	}
	got := scrub(append(slices.Clone(dropped), kept...))
	if !slices.Equal(got, kept) {
		t.Errorf("scrub kept %q\nwant %q", got, kept)
	}
}

func TestRedact(t *testing.T) {
	env := []string{
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN=TOKENwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", // contains the secret key
		"AWS_REGION=eu-west-3",   // not a credential
		"AWS_PROFILE=production", // not a credential
		"DB_PASSWORD=short",      // too short to tell from a word
		"HOME=/home/AKIAIOSFODNN7EXAMPLE",
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"nothing secret in eu-west-3 production", "nothing secret in eu-west-3 production"},
		{"key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.",
			"key [redacted] secret [redacted]."},
		{"token=TOKENwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "token=[redacted]\n"},
		{"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLEAKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY_ID=[redacted][redacted]"},
		{"a short password", "a short password"},
	}
	r := redactor(env)
	for _, tt := range tests {
		if got := r.Replace(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := redactor([]string{"PATH=/bin"}).Replace("no secrets at all"); got != "no secrets at all" {
		t.Errorf("without credentials: %q", got)
	}
}
