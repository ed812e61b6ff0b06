package release

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// helperEnv makes the test binary act as a publishing process
// (publishHelper) instead of running tests.
const helperEnv = "RELEASE_TEST_PUBLISH_HELPER"

// publishHelper publishes 23 MiB, hashed beforehand (PublishInput.Digest),
// whose reading for the upload stalls after 12 MiB, says
// "stalled" on stdout, and waits to be signalled. SIGTERM and SIGINT
// cancel the publish as pkgdeb's main does.
func publishHelper() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := New(ctx, Options{
		Endpoint:    os.Getenv("HELPER_ENDPOINT"),
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("HELPER_AK"), os.Getenv("HELPER_SK"), ""),
		PartSize:    5 << 20,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	data := make([]byte, 23<<20)
	body := &stallAt{data: data, stall: 12 << 20, reached: make(chan struct{}, 1), ctx: ctx}
	go func() {
		<-body.reached
		time.Sleep(300 * time.Millisecond) // let the parts before the stall land
		fmt.Println("stalled")
	}()
	d, err := c.Digest(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	a := Address{Bucket: os.Getenv("HELPER_BUCKET"), Key: "app/production.deb"}
	_, err = c.Publish(ctx, a, PublishInput{Body: body, Manifest: testManifest(data, "2.0"), Digest: d})
	fmt.Fprintln(os.Stderr, "publish:", err)
	return 3
}

func TestKilledPublisher(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	tests := []struct {
		sig          syscall.Signal
		wantUploads  int // unfinished multipart uploads left on the server
		wantExitCode int
	}{
		// SIGTERM: the publisher aborts its multipart upload on the way out.
		{syscall.SIGTERM, 0, 3},
		// SIGKILL: nothing can run; the unfinished upload stays on the
		// server (invisible, never current) until a lifecycle rule or
		// an abort removes it.
		{syscall.SIGKILL, 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			_, ids := publishVersions(t, c, a, "1.0")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_ENDPOINT="+srv.Endpoint,
				"HELPER_AK="+srv.AccessKey, "HELPER_SK="+srv.SecretKey, "HELPER_BUCKET="+a.Bucket)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ready := make(chan bool, 1)
			go func() {
				s := bufio.NewScanner(stdout)
				ready <- s.Scan() && s.Text() == "stalled"
			}()
			select {
			case ok := <-ready:
				if !ok {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("helper did not stall: %s", stderr.String())
				}
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("helper never reached the stall")
			}
			ups, err := srv.Client().ListMultipartUploads(testCtx(t), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.Bucket)})
			if err != nil || len(ups.Uploads) != 1 {
				t.Fatalf("before the signal: %d uploads in progress, %v", len(ups.Uploads), err)
			}
			cmd.Process.Signal(tt.sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tt.wantExitCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.wantExitCode, stderr.String())
			}
			obj, _ := currentBytes(t, c, a)
			if obj.VersionID != ids["1.0"] {
				t.Errorf("current version %s, want the untouched 1.0 %s", obj.VersionID, ids["1.0"])
			}
			if got := historyVersions(t, c, a); got != "1.0*" {
				t.Errorf("history %q", got)
			}
			ups, err = srv.Client().ListMultipartUploads(testCtx(t), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.Bucket)})
			if err != nil || len(ups.Uploads) != tt.wantUploads {
				t.Errorf("after %v: %d unfinished uploads, want %d (%v)", tt.sig, len(ups.Uploads), tt.wantUploads, err)
			}
		})
	}
}
