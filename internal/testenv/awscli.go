package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// awsCLITimeout bounds one aws command.
const awsCLITimeout = 2 * time.Minute

// AWSCLI runs the aws command line client (the peer S3 client: "aws s3
// cp", "aws s3api copy-object") against srv with args and returns its
// standard output; a failure fails t. Outside CI a missing aws skips t
// (see LookTool). The client gets the server's credentials and nothing
// of the developer's profile.
func (s *S3Server) AWSCLI(t testing.TB, args ...string) string {
	t.Helper()
	bin := LookTool(t, "aws")
	ctx, cancel := context.WithTimeout(context.Background(), awsCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoint-url", s.Endpoint}, args...)...)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_PAGER="}
	// pyenv and other shims find their interpreter through these.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYENV") || strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, s.Env()...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
