package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestAdvice: the libraries name a problem without prescribing flags; pkgdeb
// adds its own flag, on the commands that have it.
func TestAdvice(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	deb := relDeb(t, dir, "1.0")
	versioned := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	unversioned := "s3://" + srv.Bucket(t, false) + "/hello/production.deb"
	mustRun(t, "publish", deb, versioned)
	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	// A public key where the private one belongs, with the private key's
	// mode so that the permission check passes.
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	notKey := filepath.Join(dir, "pub-as.key")
	if err := os.WriteFile(notKey, pub, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"publish to an unversioned bucket", []string{"publish", deb, unversioned},
			[]string{"does not keep old versions", "(pass --allow-unversioned to publish anyway"}},
		{"promote into an unversioned bucket", []string{"promote", versioned, unversioned},
			[]string{"does not keep old versions", "(pass --allow-unversioned to promote anyway"}},
		{"publish signed with the public key", []string{"publish", "--sign-key", notKey, deb, versioned},
			[]string{`not a PEM "PRIVATE KEY" file`, "(make a key pair with: pkgdeb keygen --out NAME"}},
		{"rollback signed with the public key", []string{"rollback", versioned, "--to", "1.0", "--sign-key", notKey},
			[]string{`not a PEM "PRIVATE KEY" file`, "pkgdeb keygen --out NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := relRun(t, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, errs)
				}
			}
		})
	}
}

// TestInsecureEndpoint: a plain http:// endpoint off loopback, given with
// --endpoint or in AWS_ENDPOINT_URL_S3, is refused before any request
// unless --insecure-endpoint, and the advice names the flag.
func TestInsecureEndpoint(t *testing.T) {
	srv := relS3(t)
	channel := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	mustRun(t, "publish", relDeb(t, t.TempDir(), "1.0"), channel)
	proxy := testenv.StartS3ProxyOffLoopback(t, srv.Endpoint)

	tests := []struct {
		name    string
		args    []string
		env     string // AWS_ENDPOINT_URL_S3; "" keeps the loopback server's
		refused bool
	}{
		{"--endpoint", []string{"history", "--endpoint", proxy.URL, channel}, "", true},
		{"AWS_ENDPOINT_URL_S3", []string{"history", channel}, proxy.URL, true},
		{"--endpoint --insecure-endpoint", []string{"history", "--endpoint", proxy.URL, "--insecure-endpoint", channel}, "", false},
		{"AWS_ENDPOINT_URL_S3 --insecure-endpoint", []string{"history", "--insecure-endpoint", channel}, proxy.URL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("AWS_ENDPOINT_URL_S3", tt.env)
			}
			before := len(proxy.Requests())
			code, out, errs := relRun(t, tt.args...)
			sent := len(proxy.Requests()) - before
			if !tt.refused {
				if code != 0 || !strings.Contains(out, "1.0") || sent == 0 {
					t.Errorf("exit %d, %d requests through %s; want the history\n%s%s", code, sent, proxy.URL, out, errs)
				}
				return
			}
			if code != 1 || sent != 0 {
				t.Errorf("exit %d, %d requests sent; want 1 and none", code, sent)
			}
			for _, w := range []string{proxy.URL, "plain http:// endpoint off loopback", "(pass --insecure-endpoint if you really mean it)"} {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, errs)
				}
			}
		})
	}
}
