package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// awsTimeout bounds one aws CLI run.
const awsTimeout = 2 * time.Minute

// AWS runs the aws CLI against s with args (e.g. "s3", "cp", path,
// "s3://bucket/key") and returns its combined output; it fails t when the
// command fails. It stands for any S3 client that is not ours: an upload
// with `aws s3 cp` is what an operator does without pkgdeb. The endpoint
// and region are passed as flags, since Debian's awscli predates the
// AWS_ENDPOINT_URL_S3 variable, and the credentials through Env (and no
// other AWS_ variable of this process). A missing aws skips t, or fails
// it in CI (CI=true).
func (s *S3Server) AWS(t testing.TB, args ...string) string {
	t.Helper()
	bin := lookTool(t, "aws", "awscli")
	flags := []string{"--region", s.Region}
	if s.Endpoint != "" {
		flags = append(flags, "--endpoint-url", s.Endpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), awsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(flags, args...)...)
	for _, kv := range os.Environ() {
		// The developer's profile, region or endpoint must not leak in.
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, s.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args, err, out)
	}
	return string(out)
}
