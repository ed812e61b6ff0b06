package cloudinit

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestBootstrapUserID: `bootstrap-autoupdate userid` asks STS who the
// credentials are (GetCallerIdentity, signed with SigV4 for sts, as a
// stand-in STS checks with the AWS SDK's signer) and prints the UserId,
// which is IAM's ${aws:userid}: ROLE-ID:INSTANCE-ID for an instance role,
// the host name under which docs/iam-agent.json lets an agent write.
func TestBootstrapUserID(t *testing.T) {
	boot := newBootstrap(t)
	const region, userID = "eu-west-1", "AROAEXAMPLEROLEID:i-0123456789abcdef0"
	role := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "role-secret", SessionToken: "role-session-token"}
	sts := testenv.STS(t, role, region, userID)
	imds := fakeIMDS(t, role, region)
	stolen := role
	stolen.SecretAccessKey = "guessed"
	badIMDS := fakeIMDS(t, stolen, region)
	for _, tt := range []struct {
		name     string
		env      []string
		wantCode int
		want     string // stdout on success, in stderr on failure
	}{
		{"instance role", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL, "AWS_ENDPOINT_URL_STS=" + sts.URL}, 0, userID + "\n"},
		{"static credentials", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1", "AWS_ENDPOINT_URL_STS=" + sts.URL,
			"AWS_ACCESS_KEY_ID=" + role.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + role.SecretAccessKey, "AWS_SESSION_TOKEN=" + role.SessionToken,
			"AWS_REGION=" + region}, 0, userID + "\n"},
		{"wrong secret", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + badIMDS.URL, "AWS_ENDPOINT_URL_STS=" + sts.URL}, 1, "HTTP 403 SignatureDoesNotMatch"},
		{"wrong region", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL, "AWS_ENDPOINT_URL_STS=" + sts.URL, "AWS_REGION=us-east-1"}, 1, "HTTP 403"},
		{"no STS", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL, "AWS_ENDPOINT_URL_STS=http://127.0.0.1:1"}, 1, "STS GetCallerIdentity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := sts.Calls()
			code, stdout, stderr := boot.run(t, tt.env, "userid", "--attempts", "1")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			if code == 0 && (stdout != tt.want || sts.Calls() != before+1) {
				t.Errorf("stdout %q after %d STS answers, want %q after one", stdout, sts.Calls()-before, tt.want)
			}
			if code != 0 && !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", stderr, tt.want)
			}
		})
	}
}
