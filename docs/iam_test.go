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
			if (!strings.HasPrefix(a, "s3:") && !strings.HasPrefix(a, "autoscaling:") && a != "cloudwatch:DescribeAlarms" &&
				a != "kms:Decrypt" && a != "kms:GenerateDataKey") || strings.Contains(a, "*") {
				t.Errorf("%s: action %q: want explicit s3 actions (and the lifecycle action, the gate alarm's read and SSE-KMS's two)", name, a)
			}
		}
	}
	return &p
}

// grants returns what p allows on resource to a caller that IAM knows
// nothing about: a statement with a condition or a policy variable
// grants nothing.
func (p *policy) grants(resource string) []string {
	return p.grantsIf(resource, nil)
}

// grantsIf is what p allows on resource in a request whose context keys
// are ctx ("aws:userid", "s3:prefix"), matching as IAM does: a policy
// variable such as ${aws:userid} in a resource or condition stands for its
// key's value, taken literally (a statement whose variable has no value
// does not apply); "*" is any run of characters, "/" included; a
// statement with a condition grants only when ctx satisfies it.
func (p *policy) grantsIf(resource string, ctx map[string]string) []string {
	var out []string
	for _, st := range p.Statement {
		if !st.satisfied(ctx) {
			continue
		}
		for _, r := range st.Resource {
			if glob(r, resource, ctx) {
				out = append(out, st.Action...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// satisfied reports whether ctx meets every StringLike and StringEquals
// condition of st; other operators are not used by these policies and
// fail the test.
func (st *statement) satisfied(ctx map[string]string) bool {
	for op, keys := range st.Condition {
		if op != "StringLike" && op != "StringEquals" {
			return false
		}
		for key, patterns := range keys {
			v, ok := ctx[key]
			match := func(p string) bool { return glob(p, v, ctx) }
			if op == "StringEquals" {
				match = func(p string) bool { return p == v }
			}
			if !ok || !slices.ContainsFunc(patterns, match) {
				return false
			}
		}
	}
	return true
}

// policyVar matches a policy variable, ${aws:userid}.
var policyVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// glob matches s against an IAM pattern ("*" any run, "?" one character)
// whose policy variables take their values from ctx.
func glob(pattern, s string, ctx map[string]string) bool {
	wild := func(lit string) string {
		return strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(lit), `\*`, ".*"), `\?`, ".")
	}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, m := range policyVar.FindAllStringSubmatchIndex(pattern, -1) {
		v, ok := ctx[pattern[m[2]:m[3]]]
		if !ok {
			return false
		}
		re.WriteString(wild(pattern[last:m[0]]) + regexp.QuoteMeta(v))
		last = m[1]
	}
	re.WriteString(wild(pattern[last:]) + "$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

var channel = release.Address{Bucket: "acme-releases", Key: "hello/production.deb"}

// agentChannels are the channels iam-agent.json's agent follows: the
// service's package, its config channel (autoupdate --config-source) and
// the agent's own package (an autoupdate@ instance updating the agent).
// Each gets exactly what channel gets.
var agentChannels = []release.Address{
	channel,
	{Bucket: "acme-releases", Key: "hello/production.env"},
	{Bucket: "acme-releases", Key: "autoupdate/stable.deb"},
}

func arn(key string) string { return "arn:aws:s3:::" + channel.Bucket + "/" + key }

// Two instances with the same role, as STS GetCallerIdentity names them:
// their ${aws:userid}, which the cloud-init first-boot script makes their
// host names.
const (
	ownUserID   = "AROAEXAMPLEROLEID:i-0123456789abcdef0"
	otherUserID = "AROAEXAMPLEROLEID:i-0fedcba9876543210"
)

// caller is the request context of a call made by the instance ownUserID.
func caller(extra ...string) map[string]string {
	ctx := map[string]string{"aws:userid": ownUserID}
	for i := 0; i+1 < len(extra); i += 2 {
		ctx[extra[i]] = extra[i+1]
	}
	return ctx
}

func TestAgentPolicy(t *testing.T) {
	p := load(t, "iam-agent.json")
	for _, channel := range agentChannels {
		if got := p.grantsIf(arn(channel.Key), caller()); !slices.Equal(got, []string{"s3:GetObject", "s3:GetObjectVersion"}) {
			t.Errorf("on the release: %v, want read only", got)
		}
		if got := p.grantsIf("arn:aws:s3:::"+channel.Bucket, caller()); len(got) != 0 {
			t.Errorf("on the bucket without a prefix: %v, want nothing", got)
		}
	}
}

// TestAgentWritesUnderItsUserID: what an agent writes, evaluated against
// the policy as IAM would for the instance ownUserID. Named by its
// ${aws:userid} (what firstboot.sh sets as its host), it may write its own
// status and failure records and any update slot of its channel, and
// nothing under another host's name or another channel; named by its
// instance ID alone (what firstboot.sh wrote before), it could write
// neither status nor failure, so halt-after never triggered.
func TestAgentWritesUnderItsUserID(t *testing.T) {
	p := load(t, "iam-agent.json")
	for _, channel := range agentChannels {
		sha := strings.Repeat("ab", 32)
		otherChannel := release.Address{Bucket: channel.Bucket, Key: "other/production.deb"}
		for _, tt := range []struct {
			what  string
			key   string
			allow bool
		}{
			{"its status", fleet.StatusAddress(channel, ownUserID).Key, true},
			{"its failure record", fleet.FailureAddress(channel, sha, ownUserID).Key, true},
			{"an update slot", fleet.LeaseAddress(channel, 0).Key, true},
			{"the last update slot", fleet.LeaseAddress(channel, 19).Key, true},
			{"another host's status", fleet.StatusAddress(channel, otherUserID).Key, false},
			{"another host's failure record", fleet.FailureAddress(channel, sha, otherUserID).Key, false},
			{"a halt record", fleet.HaltAddress(channel, sha).Key, false},
			{"the release", channel.Key, false},
			{"its status in another channel", fleet.StatusAddress(otherChannel, ownUserID).Key, false},
			{"an update slot of another channel", fleet.LeaseAddress(otherChannel, 0).Key, false},
			{"its status under its instance ID alone", fleet.StatusAddress(channel, "i-0123456789abcdef0").Key, false},
			{"its failure under its instance ID alone", fleet.FailureAddress(channel, sha, "i-0123456789abcdef0").Key, false},
		} {
			got := slices.Contains(p.grantsIf(arn(tt.key), caller()), "s3:PutObject")
			if got != tt.allow {
				t.Errorf("PutObject of %s (%s) by %s: allowed %v, want %v", tt.what, tt.key, ownUserID, got, tt.allow)
			}
		}
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
	for _, channel := range agentChannels {
		sha := strings.Repeat("ab", 32)
		otherChannel := release.Address{Bucket: channel.Bucket, Key: "other/production.deb"}
		for _, tt := range []struct {
			key  string
			want []string
		}{
			{fleet.LeaseAddress(channel, 0).Key, []string{"s3:GetObject", "s3:PutObject"}},
			{fleet.LeaseAddress(channel, 19).Key, []string{"s3:GetObject", "s3:PutObject"}},
			{fleet.HaltAddress(channel, sha).Key, []string{"s3:GetObject"}},
			{fleet.FailureAddress(channel, sha, ownUserID).Key, []string{"s3:GetObject", "s3:PutObject"}},
			{fleet.FailureAddress(channel, sha, otherUserID).Key, []string{"s3:GetObject"}},
			// Another channel's records are out of reach.
			{fleet.HaltAddress(otherChannel, sha).Key, nil},
			{fleet.LeaseAddress(otherChannel, 0).Key, nil},
			{fleet.FailureAddress(otherChannel, sha, ownUserID).Key, nil},
		} {
			if got := p.grantsIf(arn(tt.key), caller()); !slices.Equal(got, tt.want) {
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
			got := p.grantsIf(bucket, caller("s3:prefix", tt.prefix))
			if want := tt.list; slices.Equal(got, []string{"s3:ListBucket"}) != want || (!want && len(got) != 0) {
				t.Errorf("list prefix %q: %v, want listing %v", tt.prefix, got, want)
			}
		}
	}
}

// TestAgentListsReleaseVersions: the agent lists the versions of its
// release (release.Client.WrittenBefore, to refuse an older signed release
// copied back), and only with the delimiter that hides the records under
// the release's name: no other hosts' names, no other channel.
func TestAgentListsReleaseVersions(t *testing.T) {
	p := load(t, "iam-agent.json")
	for _, channel := range agentChannels {
		bucket := "arn:aws:s3:::" + channel.Bucket
		for _, tt := range []struct {
			prefix, delimiter string
			allow             bool
		}{
			{channel.Key, release.VersionsDelimiter, true},
			{channel.Key, "", false},
			{channel.Key, "/", false},
			{channel.Key + ".status/", release.VersionsDelimiter, false},
			{"other/production.deb", release.VersionsDelimiter, false},
			{"", release.VersionsDelimiter, false},
		} {
			ctx := caller("s3:prefix", tt.prefix)
			if tt.delimiter != "" {
				ctx["s3:delimiter"] = tt.delimiter
			}
			if got := slices.Contains(p.grantsIf(bucket, ctx), "s3:ListBucketVersions"); got != tt.allow {
				t.Errorf("ListObjectVersions prefix %q delimiter %q: allowed %v, want %v", tt.prefix, tt.delimiter, got, tt.allow)
			}
		}
	}
}

// TestAgentLifecyclePolicy: the agent may complete launch lifecycle
// actions of its own Auto Scaling group (autoupdate --once
// --lifecycle-hook) and do nothing else with Auto Scaling, nor touch
// another group.
func TestAgentLifecyclePolicy(t *testing.T) {
	p := load(t, "iam-agent.json")
	const group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0a1b2c3d-0000-4000-8000-00000000abcd:autoScalingGroupName/web-asg"
	if got := p.grantsIf(group, caller()); !slices.Equal(got, []string{"autoscaling:CompleteLifecycleAction"}) {
		t.Errorf("on its group: %v, want autoscaling:CompleteLifecycleAction only", got)
	}
	for _, other := range []string{
		strings.Replace(group, "autoScalingGroupName/web-asg", "autoScalingGroupName/db-asg", 1),
		strings.Replace(group, "autoScalingGroupName/web-asg", "autoScalingGroupName/web-asg-2", 1),
		strings.Replace(group, "123456789012", "210987654321", 1),
	} {
		if got := p.grantsIf(other, caller()); len(got) != 0 {
			t.Errorf("on %s: %v, want nothing", other, got)
		}
	}
	var actions []string
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if strings.HasPrefix(a, "autoscaling:") {
				actions = append(actions, a)
			}
		}
	}
	if !slices.Equal(actions, []string{"autoscaling:CompleteLifecycleAction"}) {
		t.Errorf("Auto Scaling actions %v, want CompleteLifecycleAction once", actions)
	}
}

// TestPolicyVariables: the evaluator the tests above rely on resolves a
// policy variable from the request context, literally, and matches no
// statement when the variable has no value.
func TestPolicyVariables(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		ctx        map[string]string
		want       bool
	}{
		{"k/${aws:userid}.json", "k/AROA1:i-1.json", map[string]string{"aws:userid": "AROA1:i-1"}, true},
		{"k/${aws:userid}.json", "k/AROA1:i-2.json", map[string]string{"aws:userid": "AROA1:i-1"}, false},
		{"k/${aws:userid}.json", "k/${aws:userid}.json", nil, false},
		{"k/${aws:userid}.json", "k/a.b.json", map[string]string{"aws:userid": "a*b"}, false}, // a value is no pattern
		{"k/*/${aws:userid}", "k/x/y/u", map[string]string{"aws:userid": "u"}, true},
	} {
		if got := glob(tt.pattern, tt.s, tt.ctx); got != tt.want {
			t.Errorf("glob(%q, %q, %v) = %v, want %v", tt.pattern, tt.s, tt.ctx, got, tt.want)
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
	bucket := p.grantsIf("arn:aws:s3:::"+channel.Bucket, caller("s3:prefix", channel.Key))
	for _, a := range []string{"s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"} {
		if !slices.Contains(bucket, a) {
			t.Errorf("on the bucket: %v lacks %s", bucket, a)
		}
	}
	if slices.Contains(bucket, "s3:DeleteBucket") || slices.Contains(bucket, "s3:PutBucketVersioning") {
		t.Errorf("on the bucket: %v", bucket)
	}
}

// TestAgentGateAlarm: an agent may read the named gate alarms, and
// nothing else of CloudWatch (DescribeAlarms takes alarm ARNs as its
// resource); no other statement grants a CloudWatch action.
func TestAgentGateAlarm(t *testing.T) {
	p := load(t, "iam-agent.json")
	alarm := "arn:aws:cloudwatch:us-east-1:123456789012:alarm:api-5xx"
	if got := p.grants(alarm); !slices.Equal(got, []string{"cloudwatch:DescribeAlarms"}) {
		t.Errorf("on the gate alarm: %v, want DescribeAlarms only", got)
	}
	for _, other := range []string{"arn:aws:cloudwatch:us-east-1:123456789012:alarm:other", "*"} {
		if got := p.grants(other); slices.Contains(got, "cloudwatch:DescribeAlarms") {
			t.Errorf("on %s: %v; want no CloudWatch read beyond the gate alarm", other, got)
		}
	}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if strings.HasPrefix(a, "cloudwatch:") && slices.ContainsFunc(st.Resource, func(r string) bool { return !strings.Contains(r, ":alarm:") }) {
				t.Errorf("statement %s grants %s beyond alarms: %v", st.Sid, a, st.Resource)
			}
		}
	}
}

// TestKMSGrants: with SSE-KMS (pkgdeb publish --sse aws:kms), the
// publisher may have S3 encrypt with the key and read back what it
// encrypted (promote and rollback download before copying), the agent
// may only have S3 decrypt; neither may use the key outside S3, nor any
// other key.
func TestKMSGrants(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	viaS3 := map[string]string{"kms:ViaService": "s3.us-east-1.amazonaws.com"}
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"iam-publisher.json", []string{"kms:Decrypt", "kms:GenerateDataKey"}},
		{"iam-agent.json", []string{"kms:Decrypt"}},
	} {
		p := load(t, tt.file)
		if got := p.grantsIf(key, viaS3); !slices.Equal(got, tt.want) {
			t.Errorf("%s: through S3: %v, want %v", tt.file, got, tt.want)
		}
		if got := p.grantsIf(key, map[string]string{"kms:ViaService": "lambda.us-east-1.amazonaws.com"}); len(got) != 0 {
			t.Errorf("%s: outside S3: %v, want nothing", tt.file, got)
		}
		if got := p.grantsIf(key, nil); len(got) != 0 {
			t.Errorf("%s: called directly: %v, want nothing", tt.file, got)
		}
		if got := p.grantsIf(strings.Replace(key, "1234abcd", "9999abcd", 1), viaS3); len(got) != 0 {
			t.Errorf("%s: on another key: %v, want nothing", tt.file, got)
		}
	}
}
