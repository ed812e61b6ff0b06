package docs

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/release"
)

// policy is the subset of IAM's policy grammar the files use.
type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    stringList
		Resource  stringList
		Condition map[string]map[string]stringList
	}
}

// stringList is IAM's "a string or a list of strings".
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

func load(t *testing.T, name string) *policy {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// Policy variables such as ${aws:userid} need this version.
	if p.Version != "2012-10-17" || len(p.Statement) == 0 {
		t.Fatalf("%s: version %q, %d statements", name, p.Version, len(p.Statement))
	}
	for _, st := range p.Statement {
		if st.Effect != "Allow" || len(st.Action) == 0 || len(st.Resource) == 0 || st.Sid == "" {
			t.Errorf("%s: statement %+v", name, st)
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(a, "s3:") || strings.Contains(a, "*") {
				t.Errorf("%s: action %q: want explicit s3 actions", name, a)
			}
		}
	}
	return &p
}

// grants returns what p allows on resource, matched literally (these
// policies use no wildcards but a trailing /*).
func (p *policy) grants(resource string) []string {
	var out []string
	for _, st := range p.Statement {
		for _, r := range st.Resource {
			if r == resource || (strings.HasSuffix(r, "/*") && strings.HasPrefix(resource, strings.TrimSuffix(r, "*"))) {
				out = append(out, st.Action...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var channel = release.Address{Bucket: "acme-releases", Key: "hello/production.deb"}

func arn(key string) string { return "arn:aws:s3:::" + channel.Bucket + "/" + key }

func TestAgentPolicy(t *testing.T) {
	p := load(t, "iam-agent.json")
	if got := p.grants(arn(channel.Key)); !slices.Equal(got, []string{"s3:GetObject", "s3:GetObjectVersion"}) {
		t.Errorf("on the release: %v, want read only", got)
	}
	// The status key must be the one the agent writes, with the IAM
	// variable that names the calling instance as its host.
	own := arn(release.StatusAddress(channel, "${aws:userid}").Key)
	if got := p.grants(own); !slices.Equal(got, []string{"s3:PutObject"}) {
		t.Errorf("on %s: %v, want s3:PutObject only", own, got)
	}
	other := arn(release.StatusAddress(channel, "AROAOTHER:i-0other").Key)
	if got := p.grants(other); len(got) != 0 {
		t.Errorf("another host's status object: %v, want nothing", got)
	}
	if got := p.grants("arn:aws:s3:::" + channel.Bucket); len(got) != 0 {
		t.Errorf("on the bucket: %v, want nothing", got)
	}
}

func TestPublisherPolicy(t *testing.T) {
	p := load(t, "iam-publisher.json")
	objects := []string{"s3:AbortMultipartUpload", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion",
		"s3:ListMultipartUploadParts", "s3:PutObject"}
	for _, key := range []string{channel.Key, release.StatusAddress(channel, "web-1").Key} {
		if got := p.grants(arn(key)); !slices.Equal(got, objects) {
			t.Errorf("on %s: %v, want %v", key, got, objects)
		}
	}
	bucket := p.grants("arn:aws:s3:::" + channel.Bucket)
	for _, a := range []string{"s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"} {
		if !slices.Contains(bucket, a) {
			t.Errorf("on the bucket: %v lacks %s", bucket, a)
		}
	}
	if slices.Contains(bucket, "s3:DeleteBucket") || slices.Contains(bucket, "s3:PutBucketVersioning") {
		t.Errorf("on the bucket: %v", bucket)
	}
}
