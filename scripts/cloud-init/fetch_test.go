package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// bucket is a versioned bucket on versitygw where the test writes agent
// packages the ways a bucket writer can: through release.Publish, signed
// or not, and behind its back with any bytes and metadata.
type bucket struct {
	srv  *testenv.S3Server
	rel  *release.Client
	name string
	key  *release.SigningKey
}

func newBucket(t *testing.T) *bucket {
	t.Helper()
	srv := testenv.S3(t)
	rel, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &bucket{srv: srv, rel: rel, name: srv.Bucket(t, true), key: key}
}

// manifest describes body as an unsigned release of pkg.
func manifest(pkg string, body []byte) *release.Manifest {
	sum := sha256.Sum256(body)
	return &release.Manifest{Package: pkg, Version: "1.0", Architecture: "amd64", SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test"}
}

// signedFor returns the metadata of m signed by key for channel key k of
// b, as pkgdeb publish writes it there.
func (b *bucket) signedFor(k string, m *release.Manifest, key *release.SigningKey) map[string]string {
	signed := *m
	key.SignFor(&signed, release.Address{Bucket: b.name, Key: k})
	return signed.Metadata()
}

// publish publishes body with m as pkgdeb publish does, signed by signer
// unless nil, and returns its s3:// address.
func (b *bucket) publish(t *testing.T, key string, body []byte, m *release.Manifest, signer *release.SigningKey) string {
	t.Helper()
	a := release.Address{Bucket: b.name, Key: key}
	if _, err := b.rel.Publish(t.Context(), a, release.PublishInput{Body: bytes.NewReader(body), Manifest: m, Key: signer}); err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// put writes body with metadata md as any S3 client can, which Publish
// would refuse to.
func (b *bucket) put(t *testing.T, key string, body []byte, md map[string]string) string {
	t.Helper()
	if _, err := b.srv.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &b.name, Key: &key, Body: bytes.NewReader(body), Metadata: md}); err != nil {
		t.Fatal(err)
	}
	return release.Address{Bucket: b.name, Key: key}.String()
}

// writePub writes k's public key file into dir and returns its path.
func writePub(t *testing.T, dir, name string, k *release.SigningKey) string {
	t.Helper()
	_, pub, err := release.WriteKeyPair(filepath.Join(dir, name), k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestBootstrapFetch runs the bootstrap against versitygw, with
// credentials from a fake IMDSv2 as on an instance: packages signed by a
// given key (single part and multipart) or matching a pinned SHA-256 are
// fetched; everything a bucket writer without the signing key can put
// there (unsigned, plain, tampered bytes or manifest, another key,
// another package) is refused, as is a fetch with neither key nor pin,
// and no file is left behind.
func TestBootstrapFetch(t *testing.T) {
	b, boot := newBucket(t), newBootstrap(t)
	other, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	small := bytes.Repeat([]byte("autoupdate "), 1000)
	large := make([]byte, 7<<20) // over the 5 MiB part size: multipart
	for i := range large {
		large[i] = byte(i * 7)
	}
	smallSum := sha256.Sum256(small)
	pin := hex.EncodeToString(smallSum[:])
	m := manifest("autoupdate", small)

	good := b.publish(t, "autoupdate/stable.deb", small, m, b.key)
	multi := b.publish(t, "autoupdate/multipart.deb", large, manifest("autoupdate", large), b.key)
	unsigned := b.publish(t, "autoupdate/unsigned.deb", small, m, nil)
	otherKey := b.publish(t, "autoupdate/other-key.deb", small, m, other)
	otherPkg := b.publish(t, "autoupdate/hello.deb", small, manifest("hello", small), b.key)
	plain := b.put(t, "autoupdate/plain.deb", small, nil)
	tampered := bytes.Clone(small)
	tampered[100] ^= 1
	sameSize := b.put(t, "autoupdate/tampered.deb", tampered, b.signedFor("autoupdate/tampered.deb", m, b.key))
	longer := b.put(t, "autoupdate/longer.deb", append(bytes.Clone(small), "#!/bin/sh\n"...), b.signedFor("autoupdate/longer.deb", m, b.key))
	md := b.signedFor("autoupdate/forged.deb", m, b.key)
	md["debfleet-version"] = "9.9"
	forged := b.put(t, "autoupdate/forged.deb", small, md)
	md = b.signedFor("autoupdate/no-signature.deb", m, b.key)
	delete(md, "debfleet-signature")
	noSig := b.put(t, "autoupdate/no-signature.deb", small, md)
	copied := b.put(t, "autoupdate/copied.deb", small, b.signedFor("autoupdate/stable.deb", m, b.key))

	dir := t.TempDir()
	pub, otherPub := writePub(t, dir, "release", b.key), writePub(t, dir, "other", other)
	placeholder := filepath.Join(dir, "placeholder.pub")
	os.WriteFile(placeholder, []byte("-----BEGIN PUBLIC KEY-----\nPASTE THE CONTENT OF YOUR release.pub HERE\n-----END PUBLIC KEY-----\n"), 0o644)
	creds := aws.Credentials{AccessKeyID: b.srv.AccessKey, SecretAccessKey: b.srv.SecretKey, SessionToken: b.srv.SessionToken}
	imds := fakeIMDS(t, creds, b.srv.Region)
	creds.SecretAccessKey = "wrong-secret"
	badIMDS := fakeIMDS(t, creds, b.srv.Region)
	env := func(imdsURL string) []string {
		return []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imdsURL, "AWS_ENDPOINT_URL_S3=" + b.srv.Endpoint}
	}
	key := []string{"--public-key", pub}
	offLoopback := testenv.StartS3ProxyOffLoopback(t, b.srv.Endpoint).URL
	for _, tt := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     string // in stdout on success, in stderr on failure
		body     []byte
	}{
		{"signed single part", env(imds.URL), append([]string{good}, key...), 0, "sha256 " + pin + ", verified against the signed manifest", small},
		{"signed multipart", env(imds.URL), append([]string{multi}, key...), 0, "7340032 bytes", large},
		{"second of two keys", env(imds.URL), []string{good, "--public-key", otherPub, "--public-key", pub}, 0, "the signed manifest", small},
		{"pinned sha256 without a key", env(imds.URL), []string{good, "--sha256", pin}, 0, "verified against --sha256", small},
		{"pin and key", env(imds.URL), append([]string{good, "--sha256", strings.ToUpper(pin)}, key...), 0, "fetched", small},
		{"static credentials", append(env("http://127.0.0.1:1"), "AWS_ACCESS_KEY_ID="+b.srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+b.srv.SecretKey, "AWS_REGION="+b.srv.Region),
			append([]string{good}, key...), 0, "fetched", small},

		{"neither key nor pin", env(imds.URL), []string{good}, 2, "refusing to install an unverified package", nil},
		{"unsigned release", env(imds.URL), append([]string{unsigned}, key...), 1, "the release is not signed", nil},
		{"key id without a signature", env(imds.URL), append([]string{noSig}, key...), 1, "the release is not signed", nil},
		{"plain upload", env(imds.URL), append([]string{plain}, key...), 1, "no release manifest", nil},
		{"signed by another key", env(imds.URL), append([]string{otherKey}, key...), 1, "not by a given public key", nil},
		{"signed for another channel", env(imds.URL), append([]string{copied}, key...), 1, "signed for channel 's3://" + b.name + "/autoupdate/stable.deb', not this one", nil},
		{"tampered bytes", env(imds.URL), append([]string{sameSize}, key...), 1, "the signed manifest says " + pin, nil},
		{"bytes added", env(imds.URL), append([]string{longer}, key...), 1, "11010 bytes, the signed manifest says 11000", nil},
		{"tampered manifest", env(imds.URL), append([]string{forged}, key...), 1, "bad signature from key " + b.key.ID(), nil},
		{"another package", env(imds.URL), append([]string{otherPkg}, key...), 1, "for package 'hello' (want 'autoupdate')", nil},
		{"wrong pin", env(imds.URL), []string{good, "--sha256", strings.Repeat("ab", 32)}, 1, "--sha256 says", nil},
		{"pin of tampered bytes", env(imds.URL), []string{sameSize, "--sha256", pin}, 1, "--sha256 says", nil},
		{"placeholder key", env(imds.URL), []string{good, "--public-key", placeholder}, 1, "not a PEM ed25519 public key", nil},
		{"no openssl", append(env(imds.URL), "PATH="+t.TempDir()), append([]string{good}, key...), 1, "run openssl", nil},
		{"bad credentials", env(badIMDS.URL), append([]string{good, "--attempts", "1"}, key...), 1, "HTTP 403", nil},
		{"no such key", env(imds.URL), append([]string{"s3://" + b.name + "/nope.deb", "--attempts", "2"}, key...), 1, "HTTP 404 NoSuchKey", nil},
		{"no IMDS", env("http://127.0.0.1:1"), append([]string{good, "--attempts", "1"}, key...), 1, "IMDS", nil},
		{"bad address", env(imds.URL), append([]string{"http://x/y"}, key...), 2, "want s3://bucket/key", nil},
		{"plain http off loopback", append(env(imds.URL), "AWS_ENDPOINT_URL_S3="+offLoopback), append([]string{good}, key...), 2, "plain http:// off loopback", nil},
		{"plain http off loopback, allowed", append(env(imds.URL), "AWS_ENDPOINT_URL_S3="+offLoopback, "AUTOUPDATE_INSECURE_ENDPOINT=true"),
			append([]string{good}, key...), 0, "fetched", small},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".deb")
			code, stdout, stderr := boot.run(t, tt.env, append([]string{"fetch", tt.args[0], out}, tt.args[1:]...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			got, err := os.ReadFile(out)
			if tt.body == nil {
				if !strings.Contains(stderr, tt.want) {
					t.Errorf("stderr %q lacks %q", stderr, tt.want)
				}
				if err == nil {
					t.Error("a refused fetch left the file behind")
				}
			} else {
				if !strings.Contains(stdout, tt.want) {
					t.Errorf("stdout %q lacks %q", stdout, tt.want)
				}
				if !bytes.Equal(got, tt.body) {
					t.Errorf("fetched %d bytes (%v), want the %d published", len(got), err, len(tt.body))
				}
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".bootstrap-*")); len(m) > 0 {
				t.Errorf("temporary files left: %v", m)
			}
		})
	}
}
