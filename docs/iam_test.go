package docs

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// policy is the subset of IAM's policy grammar the files use.
type policy struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid       string
	Effect    string
	Action    stringList
	Resource  stringList
	Condition map[string]map[string]stringList
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

// grants returns what p allows on resource without a condition, matching
// as IAM does: "*" is any run of characters, "/" included; a policy
// variable such as ${aws:userid} matches only itself (the tests pass it
// for the calling host).
func (p *policy) grants(resource string) []string {
	return p.grantsIf(resource, nil)
}

// grantsIf is grants for a request whose condition keys are ctx (a
// statement with a condition grants only when ctx satisfies it).
func (p *policy) grantsIf(resource string, ctx map[string]string) []string {
	var out []string
	for _, st := range p.Statement {
		if !st.satisfied(ctx) {
			continue
		}
		for _, r := range st.Resource {
			if glob(r, resource) {
				out = append(out, st.Action...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// satisfied reports whether ctx meets every StringLike condition of st;
// other operators are not used by these policies and fail the test.
func (st *statement) satisfied(ctx map[string]string) bool {
	for op, keys := range st.Condition {
		if op != "StringLike" {
			return false
		}
		for key, patterns := range keys {
			v, ok := ctx[key]
			if !ok || !slices.ContainsFunc(patterns, func(p string) bool { return glob(p, v) }) {
				return false
			}
		}
	}
	return true
}

// glob matches s against an IAM pattern ("*" any run, "?" one character).
func glob(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*"), `\?`, ".") + "$"
	return regexp.MustCompile(re).MatchString(s)
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
	own := arn(fleet.StatusAddress(channel, "${aws:userid}").Key)
	if got := p.grants(own); !slices.Equal(got, []string{"s3:PutObject"}) {
		t.Errorf("on %s: %v, want s3:PutObject only", own, got)
	}
	other := arn(fleet.StatusAddress(channel, "AROAOTHER:i-0other").Key)
	if got := p.grants(other); len(got) != 0 {
		t.Errorf("another host's status object: %v, want nothing", got)
	}
	if got := p.grants("arn:aws:s3:::" + channel.Bucket); len(got) != 0 {
		t.Errorf("on the bucket without a prefix: %v, want nothing", got)
	}
}

// TestAgentRolloutPolicy: an agent following a staged release reads and
// takes update slots, reads halt and failure records, writes only its own
// failure record, never a halt record (a stolen instance key must not
// resume a halted release; the halt follows from the failure count
// anyway), and lists only the slot and record prefixes, which lets it
// tell a missing record (a 403 on the GET) from a denied one.
func TestAgentRolloutPolicy(t *testing.T) {
	p := load(t, "iam-agent.json")
	sha := strings.Repeat("ab", 32)
	own, other := "${aws:userid}", "AROAOTHER:i-0other"
	for _, tt := range []struct {
		key  string
		want []string
	}{
		{fleet.LeaseAddress(channel, 0).Key, []string{"s3:GetObject", "s3:PutObject"}},
		{fleet.LeaseAddress(channel, 19).Key, []string{"s3:GetObject", "s3:PutObject"}},
		{fleet.HaltAddress(channel, sha).Key, []string{"s3:GetObject"}},
		{fleet.FailureAddress(channel, sha, own).Key, []string{"s3:GetObject", "s3:PutObject"}},
		{fleet.FailureAddress(channel, sha, other).Key, []string{"s3:GetObject"}},
		// Another channel's records are out of reach.
		{fleet.HaltAddress(release.Address{Bucket: channel.Bucket, Key: "other/production.deb"}, sha).Key, nil},
		{fleet.LeaseAddress(release.Address{Bucket: channel.Bucket, Key: "other/production.deb"}, 0).Key, nil},
		{fleet.FailureAddress(release.Address{Bucket: channel.Bucket, Key: "other/production.deb"}, sha, own).Key, nil},
	} {
		if got := p.grants(arn(tt.key)); !slices.Equal(got, tt.want) {
			t.Errorf("on %s: %v, want %v", tt.key, got, tt.want)
		}
	}
	bucket := "arn:aws:s3:::" + channel.Bucket
	for _, tt := range []struct {
		prefix string
		list   bool
	}{
		{fleet.LeaseAddress(channel, 3).Key, true},                  // is slot 3 missing?
		{fleet.HaltAddress(channel, sha).Key, true},                 // is the halt record missing?
		{channel.Key + ".rollout/" + sha + "/failed/", true},        // who failed
		{channel.Key + ".status/", false},                           // other hosts' names
		{"other/production.deb.rollout/" + sha + "/failed/", false}, // another channel
		{"", false}, // the whole bucket
	} {
		got := p.grantsIf(bucket, map[string]string{"s3:prefix": tt.prefix})
		if want := tt.list; slices.Equal(got, []string{"s3:ListBucket"}) != want || (!want && len(got) != 0) {
			t.Errorf("list prefix %q: %v, want listing %v", tt.prefix, got, want)
		}
	}
}

func TestPublisherPolicy(t *testing.T) {
	p := load(t, "iam-publisher.json")
	objects := []string{"s3:AbortMultipartUpload", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion",
		"s3:ListMultipartUploadParts", "s3:PutObject"}
	for _, key := range []string{channel.Key, fleet.StatusAddress(channel, "web-1").Key} {
		if got := p.grants(arn(key)); !slices.Equal(got, objects) {
			t.Errorf("on %s: %v, want %v", key, got, objects)
		}
	}
	// Halt and resume write halt records; status reads update slots,
	// halt and failure records.
	sha := strings.Repeat("ab", 32)
	for _, key := range []string{fleet.HaltAddress(channel, sha).Key, fleet.FailureAddress(channel, sha, "web-1").Key, fleet.LeaseAddress(channel, 0).Key} {
		if got := p.grants(arn(key)); !slices.Contains(got, "s3:GetObject") || !slices.Contains(got, "s3:PutObject") {
			t.Errorf("on %s: %v, want at least get and put", key, got)
		}
	}
	bucket := p.grantsIf("arn:aws:s3:::"+channel.Bucket, map[string]string{"s3:prefix": channel.Key})
	for _, a := range []string{"s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"} {
		if !slices.Contains(bucket, a) {
			t.Errorf("on the bucket: %v lacks %s", bucket, a)
		}
	}
	if slices.Contains(bucket, "s3:DeleteBucket") || slices.Contains(bucket, "s3:PutBucketVersioning") {
		t.Errorf("on the bucket: %v", bucket)
	}
}
