package cloudinit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// cloudConfig is the part of cloud-init's format the user data uses.
type cloudConfig struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd [][]string `yaml:"runcmd"`
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUserData: user-data.yaml is cloud-config YAML whose embedded files
// are exactly the scripts next to it (which the other tests run), and
// runcmd runs the first-boot script.
func TestUserData(t *testing.T) {
	raw := read(t, "user-data.yaml")
	// EC2 refuses user data over 16 KiB (before base64); gzip it (cloud-init
	// reads gzipped user data) if it ever grows past that.
	if len(raw) > 16<<10 {
		t.Errorf("user-data.yaml is %d bytes; EC2 accepts at most %d", len(raw), 16<<10)
	}
	if !strings.HasPrefix(raw, "#cloud-config\n") {
		t.Error("user data must start with #cloud-config")
	}
	var cc cloudConfig
	dec := yaml.NewDecoder(strings.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cc); err != nil {
		t.Fatalf("user-data.yaml: %v", err)
	}
	want := map[string]string{
		"/usr/local/sbin/bootstrap-autoupdate": "bootstrap-autoupdate",
		"/usr/local/sbin/autoupdate-firstboot": "firstboot.sh",
	}
	for _, f := range cc.WriteFiles {
		src, ok := want[f.Path]
		if !ok {
			t.Errorf("unexpected file %s", f.Path)
			continue
		}
		delete(want, f.Path)
		if f.Content != read(t, src) {
			t.Errorf("%s in user-data.yaml differs from %s: regenerate it", f.Path, src)
		}
		if f.Permissions != "0755" || f.Owner != "root:root" {
			t.Errorf("%s: permissions %q owner %q", f.Path, f.Permissions, f.Owner)
		}
	}
	for p := range want {
		t.Errorf("user-data.yaml does not write %s", p)
	}
	if len(cc.Runcmd) != 1 || len(cc.Runcmd[0]) != 1 || cc.Runcmd[0][0] != "/usr/local/sbin/autoupdate-firstboot" {
		t.Errorf("runcmd %v, want the first-boot script", cc.Runcmd)
	}
}

// TestScriptSyntax: the shell script parses with sh -n (dash on Debian
// and Ubuntu), the bootstrap with Python's parser.
func TestScriptSyntax(t *testing.T) {
	sh := testenv.LookTool(t, "sh")
	if out, err := exec.Command(sh, "-n", "firstboot.sh").CombinedOutput(); err != nil {
		t.Errorf("sh -n firstboot.sh: %v\n%s", err, out)
	}
	py := testenv.LookTool(t, "python3")
	if out, err := exec.Command(py, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", "bootstrap-autoupdate").CombinedOutput(); err != nil {
		t.Errorf("bootstrap-autoupdate does not parse: %v\n%s", err, out)
	}
}

// fakeIMDS serves the IMDSv2 paths the bootstrap reads: a session token
// (PUT), then, only with that token, the role's credentials, the region
// and the instance ID.
func fakeIMDS(t *testing.T, srv *testenv.S3Server, secret string) *httptest.Server {
	t.Helper()
	const token = "imds-session-token"
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing TTL", http.StatusBadRequest)
			return
		}
		w.Write([]byte(token))
	})
	get := func(path string, body func() string) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-aws-ec2-metadata-token") != token {
				http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
				return
			}
			w.Write([]byte(body()))
		})
	}
	get("/latest/meta-data/iam/security-credentials/", func() string { return "web-role" })
	get("/latest/meta-data/iam/security-credentials/web-role", func() string {
		b, _ := json.Marshal(map[string]string{"Code": "Success", "AccessKeyId": srv.AccessKey, "SecretAccessKey": secret,
			"Token": srv.SessionToken, "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		return string(b)
	})
	get("/latest/meta-data/placement/region", func() string { return srv.Region })
	get("/latest/meta-data/instance-id", func() string { return "i-0123456789abcdef0" })
	imds := httptest.NewServer(mux)
	t.Cleanup(imds.Close)
	return imds
}

// bootstrap runs scripts/cloud-init/bootstrap-autoupdate with only the
// environment given (no AWS settings of the developer's leak in).
func bootstrap(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	py := testenv.LookTool(t, "python3")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"bootstrap-autoupdate"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// TestBootstrapFetch runs the bootstrap against versitygw, with
// credentials from a fake IMDSv2 as on an instance: releases published by
// pkgdeb's code (single-part and multipart) are fetched and verified; a
// corrupt one, a wrong pin, bad credentials and a missing key fail
// without leaving a file.
func TestBootstrapFetch(t *testing.T) {
	srv := testenv.S3(t)
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	bucket := srv.Bucket(t, true)
	publish := func(key string, body []byte, lie bool) string {
		t.Helper()
		sum := sha256.Sum256(body)
		m := &release.Manifest{Package: "autoupdate", Version: "1.0", Architecture: "amd64", SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(body)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test"}
		a := release.Address{Bucket: bucket, Key: key}
		if lie {
			// Bytes that do not match their manifest: Publish refuses
			// to write that, so put it behind its back.
			m.SHA256 = strings.Repeat("0", 64)
			_, err := srv.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: m.Metadata()})
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.Publish(t.Context(), a, release.PublishInput{Body: bytes.NewReader(body), Manifest: m}); err != nil {
			t.Fatal(err)
		}
		return a.String()
	}
	small := bytes.Repeat([]byte("autoupdate "), 1000)
	large := make([]byte, 7<<20) // over the 5 MiB part size: multipart
	for i := range large {
		large[i] = byte(i * 7)
	}
	smallSum := sha256.Sum256(small)
	good := publish("autoupdate/stable.deb", small, false)
	multi := publish("autoupdate/multipart.deb", large, false)
	corrupt := publish("autoupdate/corrupt.deb", small, true)

	imds := fakeIMDS(t, srv, srv.SecretKey)
	badIMDS := fakeIMDS(t, srv, "wrong-secret")
	env := func(imdsURL string) []string {
		return []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imdsURL, "AWS_ENDPOINT_URL_S3=" + srv.Endpoint}
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     string // in stdout on success, in stderr on failure
		body     []byte
	}{
		{"single part via IMDSv2", env(imds.URL), []string{good}, 0, "sha256 " + hex.EncodeToString(smallSum[:]) + ", verified against the manifest and S3's checksum", small},
		{"multipart", env(imds.URL), []string{multi}, 0, "7340032 bytes", large}, // composite checksum: the manifest only
		{"pinned sha256", env(imds.URL), []string{good, "--sha256", hex.EncodeToString(smallSum[:])}, 0, "fetched", small},
		{"static credentials", append(env("http://127.0.0.1:1"), "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey, "AWS_REGION="+srv.Region),
			[]string{good}, 0, "fetched", small},
		{"corrupt release", env(imds.URL), []string{corrupt, "--attempts", "1"}, 1, "the manifest says", nil},
		{"wrong pin", env(imds.URL), []string{good, "--sha256", strings.Repeat("ab", 32), "--attempts", "1"}, 1, "--sha256 says", nil},
		{"bad credentials", env(badIMDS.URL), []string{good, "--attempts", "1"}, 1, "HTTP 403", nil},
		{"no such key", env(imds.URL), []string{"s3://" + bucket + "/nope.deb", "--attempts", "2"}, 1, "HTTP 404 NoSuchKey", nil},
		{"no IMDS", env("http://127.0.0.1:1"), []string{good, "--attempts", "1"}, 1, "IMDS", nil},
		{"bad address", env(imds.URL), []string{"http://x/y"}, 2, "want s3://bucket/key", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".deb")
			code, stdout, stderr := bootstrap(t, tt.env, append([]string{"fetch", tt.args[0], out}, tt.args[1:]...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			got, err := os.ReadFile(out)
			if tt.body == nil {
				if !strings.Contains(stderr, tt.want) {
					t.Errorf("stderr %q lacks %q", stderr, tt.want)
				}
				if err == nil {
					t.Error("a failed fetch left the file behind")
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

	t.Run("instance-id", func(t *testing.T) {
		code, stdout, stderr := bootstrap(t, env(imds.URL), "instance-id")
		if code != 0 || stdout != "i-0123456789abcdef0\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
}
