package cloudinit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"gopkg.in/yaml.v3"

	"github.com/debfleet/debfleet/internal/testenv"
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

// TestUserData: user-data.yaml is cloud-config YAML whose embedded
// scripts are exactly the files next to it (which the other tests run),
// that writes a placeholder for the release public key, runs the
// first-boot script, and fits EC2's 16 KiB once gzipped.
func TestUserData(t *testing.T) {
	raw := read(t, "user-data.yaml")
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write([]byte(raw))
	zw.Close()
	if gz.Len() > 16<<10 {
		t.Errorf("user-data.yaml is %d bytes gzipped; EC2 accepts at most %d", gz.Len(), 16<<10)
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
		"/etc/autoupdate/release.pub":          "",
	}
	for _, f := range cc.WriteFiles {
		src, ok := want[f.Path]
		if !ok {
			t.Errorf("unexpected file %s", f.Path)
			continue
		}
		delete(want, f.Path)
		if src == "" {
			// A placeholder the bootstrap refuses until replaced.
			if !strings.HasPrefix(f.Content, "-----BEGIN PUBLIC KEY-----\n") || f.Permissions != "0644" {
				t.Errorf("%s: permissions %q, content %q", f.Path, f.Permissions, f.Content)
			}
			continue
		}
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
// (PUT), then, only with that token, the role's credentials and the
// region.
func fakeIMDS(t *testing.T, creds aws.Credentials, region string) *httptest.Server {
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
		b, _ := json.Marshal(map[string]string{"Code": "Success", "AccessKeyId": creds.AccessKeyID, "SecretAccessKey": creds.SecretAccessKey,
			"Token": creds.SessionToken, "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		return string(b)
	})
	get("/latest/meta-data/placement/region", func() string { return region })
	imds := httptest.NewServer(mux)
	t.Cleanup(imds.Close)
	return imds
}

// bootstrap runs scripts/cloud-init/bootstrap-autoupdate with Python's
// own interpreter (not a wrapper such as pyenv's shim, which a test's
// PATH may not reach).
type bootstrap struct{ python string }

func newBootstrap(t *testing.T) *bootstrap {
	t.Helper()
	out, err := exec.Command(testenv.LookTool(t, "python3"), "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("find python3's interpreter: %v", err)
	}
	return &bootstrap{python: strings.TrimSpace(string(out))}
}

// run runs the bootstrap with only the environment given (no AWS settings
// of the developer's leak in), with PATH as the test's unless env sets it.
func (b *bootstrap) run(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.python, append([]string{"bootstrap-autoupdate"}, args...)...)
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
