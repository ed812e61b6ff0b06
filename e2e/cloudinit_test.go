package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// bootCase is one server booted with the repository's user data.
type bootCase struct {
	name string
	// agent and source are the keys (in the test's bucket) of the agent
	// package and of the service's channel the user data names.
	agent, source string
}

// TestCloudInitBoot boots containers the way a cloud boots a new server:
// cloud-init, seeded through NoCloud with scripts/cloud-init/user-data.yaml
// (gzipped, as EC2 takes it), with static credentials and a stand-in STS
// instead of an instance role. A server installs the channel's current
// signed release, healthy, before its agent unit starts, and names itself
// by its ${aws:userid}; a tampered agent package is never installed; an
// unsigned release of the service is never installed.
func TestCloudInitBoot(t *testing.T) {
	rootfs, agentDeb := inputs(t)
	start := time.Now()
	f := setUp(t, agentDeb)
	root := unpackRoot(t, rootfs, f.work)
	key := filepath.Join(f.work, "shared/release.key")
	f.pkgdeb("publish", "--sign-key", key, agentDeb, f.at("autoupdate/stable.deb"))
	f.tamper(agentDeb, "autoupdate/tampered.deb")
	f.pkgdeb("publish", "--sign-key", key, f.debs["1.0.0"], f.channel.String())
	f.pkgdeb("publish", f.debs["1.0.0"], f.at("hello/unsigned.deb"))
	t.Logf("set up in %v", time.Since(start).Round(100*time.Millisecond))

	for _, bc := range []bootCase{
		{name: "ci-signed", agent: "autoupdate/stable.deb", source: f.channel.Key},
		{name: "ci-tampered-agent", agent: "autoupdate/tampered.deb", source: f.channel.Key},
		{name: "ci-unsigned-release", agent: "autoupdate/stable.deb", source: "hello/unsigned.deb"},
	} {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			f.bootWithUserData(t, root, bc)
		})
	}
}

// at returns the s3:// address of key in the test's bucket.
func (f *cluster) at(key string) string {
	return release.Address{Bucket: f.channel.Bucket, Key: key}.String()
}

// tamper puts the agent package with one byte changed at key, with the
// signed manifest of the real one, its SHA-256 changed to match: what a
// bucket writer without the signing key can do.
func (f *cluster) tamper(agentDeb, key string) {
	t := f.t
	f.pkgdeb("publish", "--sign-key", filepath.Join(f.work, "shared/release.key"), agentDeb, f.at(key))
	head, err := f.srv.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &f.channel.Bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(agentDeb)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	sum := sha256.Sum256(b)
	for k := range head.Metadata {
		if strings.EqualFold(k, "debfleet-sha256") {
			head.Metadata[k] = hex.EncodeToString(sum[:])
		}
	}
	_, err = f.srv.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &f.channel.Bucket, Key: &key,
		Body: bytes.NewReader(b), Metadata: head.Metadata})
	if err != nil {
		t.Fatal(err)
	}
}

// bootWithUserData boots one container seeded with the rendered user data
// and checks what cloud-init made of it.
func (f *cluster) bootWithUserData(t *testing.T, root string, bc bootCase) {
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	userID := "AROAE2EEXAMPLEROLEID:i-" + fmt.Sprintf("%017x", time.Now().UnixNano())
	sts := testenv.STS(t, aws.Credentials{AccessKeyID: f.srv.AccessKey, SecretAccessKey: f.srv.SecretKey}, f.region, userID)
	seed := filepath.Join(f.work, "seed-"+bc.name)
	if err := os.Mkdir(seed, 0o755); err != nil {
		t.Fatal(err)
	}
	userData := f.renderUserData(t, bc, addr, sts.URL)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(userData)
	zw.Close()
	writeFile(t, filepath.Join(seed, "user-data"), gz.Bytes())
	writeFile(t, filepath.Join(seed, "meta-data"), []byte("instance-id: iid-"+bc.name+"\nlocal-hostname: "+bc.name+"\n"))
	writeFile(t, filepath.Join(seed, "user-data.yaml"), userData)

	start := time.Now()
	c := boot(t, root, bc.name, filepath.Join(f.work, "shared"), "--bind-ro", seed+":/var/lib/cloud/seed/nocloud")
	t.Logf("booted with cloud-init in %v", time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := c.run(ctx, nil, "sh", "-c", "tail -n 60 /var/log/cloud-init-output.log; journalctl --no-pager -n 40 -u autoupdate -u hello")
			t.Logf("%s: cloud-init output and journal:\n%s", bc.name, out)
		}
	})
	if out, err := c.run(f.ctx, nil, "cloud-init", "schema", "--config-file", "/var/lib/cloud/seed/nocloud/user-data.yaml"); err != nil || !strings.Contains(out, "Valid") {
		t.Errorf("cloud-init schema of the rendered user data: %v\n%s", err, out)
	}
	status, _ := c.run(f.ctx, nil, "cloud-init", "status", "--long")
	output := c.must(t, "cat", "/var/log/cloud-init-output.log")
	switch bc.name {
	case "ci-signed":
		f.checkSignedBoot(t, c, status, addr, userID, sts)
	case "ci-tampered-agent":
		checkRefused(t, c, status, output, "autoupdate", "bad signature from key")
	case "ci-unsigned-release":
		checkRefused(t, c, status, output, "hello", "not signed")
		if got := c.show(t, "autoupdate", "ActiveState")["ActiveState"]; got != "active" {
			t.Errorf("the agent is %s after its first install failed, want active (it installs the next signed release)", got)
		}
	}
}

// checkSignedBoot: cloud-init is done; the channel's release runs, healthy;
// hello became active before the agent unit started; the status object is
// under the host's ${aws:userid}.
func (f *cluster) checkSignedBoot(t *testing.T, c *container, status, addr, userID string, sts *testenv.STSServer) {
	if !strings.Contains(status, "status: done") {
		t.Fatalf("cloud-init status:\n%s", status)
	}
	if v := strings.TrimSpace(c.must(t, "dpkg-query", "-W", "-f", "${Version}", "hello")); v != "1.0.0" {
		t.Errorf("hello %s installed, want 1.0.0", v)
	}
	if body, err := get(addr, "/version"); err != nil || strings.TrimSpace(body) != "1.0.0" {
		t.Errorf("GET /version = %q (%v), want 1.0.0", body, err)
	}
	hello := c.show(t, "hello", "ActiveState", "ActiveEnterTimestampMonotonic")
	agent := c.show(t, "autoupdate", "ActiveState", "ExecMainStartTimestampMonotonic")
	helloUp, _ := strconv.ParseInt(hello["ActiveEnterTimestampMonotonic"], 10, 64)
	agentUp, _ := strconv.ParseInt(agent["ExecMainStartTimestampMonotonic"], 10, 64)
	if hello["ActiveState"] != "active" || agent["ActiveState"] != "active" || helloUp == 0 || agentUp <= helloUp {
		t.Errorf("want hello active before the agent unit starts: hello %v, autoupdate %v", hello, agent)
	}
	if sts.Calls() == 0 {
		t.Error("the first-boot script did not ask STS for its userid")
	}
	ctx, cancel := context.WithTimeout(f.ctx, waitLimit)
	defer cancel()
	_, err := fleet.New(f.rel.Records(), nil).WaitHosts(ctx, f.channel, []string{userID}, 100*time.Millisecond, func(st fleet.HostStatus) bool {
		return st.State == fleet.StateOK && st.Version == "1.0.0"
	}, nil)
	if err != nil {
		t.Errorf("status object of host %s: %v", userID, err)
	}
}

// checkRefused: cloud-init reports the first-boot script's failure, pkg
// is not installed, and the output says why.
func checkRefused(t *testing.T, c *container, status, output, pkg, reason string) {
	if !strings.Contains(status, "status: error") {
		t.Errorf("cloud-init status after a refusal, want error:\n%s", status)
	}
	if out, err := c.run(context.Background(), nil, "dpkg-query", "-W", "-f", "${Status}", pkg); err == nil && strings.Contains(out, "installed") {
		t.Errorf("%s is installed (%s) after a refusal", pkg, out)
	}
	if !strings.Contains(output, reason) {
		t.Errorf("cloud-init's output does not say %q:\n%s", reason, output)
	}
}

// renderUserData is scripts/cloud-init/user-data.yaml with the test's
// settings: the first-boot script's settings, the public key, static
// credentials and endpoints (in /etc/autoupdate/credentials, which the
// script and the agent's unit read), and hello's listen address.
func (f *cluster) renderUserData(t *testing.T, bc bootCase, addr, stsURL string) []byte {
	raw, err := os.ReadFile(filepath.Join(f.repo, "scripts/cloud-init/user-data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(f.work, "shared/release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{"AGENT_DEB": f.at(bc.agent), "SOURCE": f.at(bc.source), "PACKAGE": "hello",
		"HEALTH_URL": "http://" + addr + "/healthz"}
	files, _ := doc["write_files"].([]any)
	for _, x := range files {
		wf, _ := x.(map[string]any)
		switch wf["path"] {
		case "/etc/autoupdate/release.pub":
			wf["content"] = string(pub)
		case "/usr/local/sbin/autoupdate-firstboot":
			wf["content"] = setSettings(t, wf["content"].(string), settings)
		}
	}
	creds := strings.Join(append(f.creds, "AWS_REGION="+f.region, "AWS_ENDPOINT_URL_S3="+f.endpoint, "AWS_ENDPOINT_URL_STS="+stsURL), "\n") + "\n"
	doc["write_files"] = append(files,
		map[string]any{"path": "/etc/autoupdate/credentials", "permissions": "0600", "content": creds},
		map[string]any{"path": "/etc/systemd/system/hello.service.d/listen.conf", "permissions": "0644",
			"content": fmt.Sprintf("[Service]\nExecStart=\nExecStart=/usr/bin/hello --pidfile /run/hello/hello.pid --listen %s\n", addr)})
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("#cloud-config\n"), out...)
}

// setSettings replaces the value of each NAME= line of the script's
// settings; every name must be there.
func setSettings(t *testing.T, script string, settings map[string]string) string {
	for name, v := range settings {
		re := regexp.MustCompile(`(?m)^` + name + `=.*$`)
		if !re.MatchString(script) || strings.ContainsAny(v, " '\"$`\\") {
			t.Fatalf("cannot set %s=%s in the first-boot script", name, v)
		}
		script = re.ReplaceAllLiteralString(script, name+"="+v)
	}
	return script
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
