package realparts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Environment variables that point the S3 tests at an endpoint other than a
// local versitygw (MinIO, AWS, ...). When DEBFLEET_S3_ENDPOINT is set no
// server is started; buckets are created (and deleted afterwards) under
// DEBFLEET_S3_BUCKET_PREFIX with the credentials in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, if set).
const (
	// EnvS3Endpoint is the endpoint URL, e.g. http://127.0.0.1:9000 for
	// MinIO. The value "aws" means the SDK's default AWS endpoints.
	EnvS3Endpoint = "DEBFLEET_S3_ENDPOINT"
	// EnvS3Region is the region to sign for and create buckets in
	// (default us-east-1).
	EnvS3Region = "DEBFLEET_S3_REGION"
	// EnvS3BucketPrefix prefixes every bucket the tests create (default
	// "debfleet-test-"); buckets get a random suffix.
	EnvS3BucketPrefix = "DEBFLEET_S3_BUCKET_PREFIX"
	// EnvVersityGW names the versitygw binary to run instead of
	// .cache/bin/versitygw or the one on PATH.
	EnvVersityGW = "DEBFLEET_VERSITYGW"
)

// VersityGWInstall is what a developer runs when the binary is missing.
const VersityGWInstall = "scripts/install-deps test (or: GOBIN=$PWD/.cache/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)"

// S3Server is an S3 endpoint for tests, the demo and benchmarks: a
// versitygw process on 127.0.0.1 started for this process, or an external
// endpoint named by DEBFLEET_S3_ENDPOINT.
type S3Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:43121. It is empty
	// when the external endpoint is AWS itself ("aws").
	Endpoint string
	// Region is the signing region.
	Region string
	// AccessKey and SecretKey are the credentials to use. For versitygw
	// they are generated per run; they are never logged.
	AccessKey, SecretKey string
	// SessionToken is set only for external endpoints with temporary
	// credentials.
	SessionToken string
	// External reports whether the server was not started by us.
	External bool

	bucketPrefix string
	cmd          *exec.Cmd
	exited       chan struct{}
	dir          string
}

// ErrNoVersityGW marks a missing versitygw binary: tests skip on it
// outside CI, and VersityGWInstall says how to get one.
var ErrNoVersityGW = errors.New("versitygw not found")

// StartS3 starts versitygw on a free 127.0.0.1 port with a posix backend
// and versioning in fresh temporary directories, or returns the external
// endpoint when DEBFLEET_S3_ENDPOINT is set. The caller must Close it.
func StartS3() (*S3Server, error) {
	region := os.Getenv(EnvS3Region)
	if region == "" {
		region = "us-east-1"
	}
	prefix := os.Getenv(EnvS3BucketPrefix)
	if prefix == "" {
		prefix = "debfleet-test-"
	}
	if ep := os.Getenv(EnvS3Endpoint); ep != "" {
		if ep == "aws" {
			ep = ""
		}
		srv := &S3Server{
			Endpoint:     ep,
			Region:       region,
			AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
			SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
			External:     true,
			bucketPrefix: prefix,
		}
		if srv.AccessKey == "" || srv.SecretKey == "" {
			return nil, fmt.Errorf("%s is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not", EnvS3Endpoint)
		}
		return srv, nil
	}
	bin, err := findVersityGW()
	if err != nil {
		return nil, err
	}
	var lastErr error
	// The free port is found by binding and releasing it, so another
	// process can take it in between; a second try settles that.
	for range 3 {
		srv, err := startVersityGW(bin, region, prefix)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// findVersityGW looks in DEBFLEET_VERSITYGW, then .cache/bin under the
// module root, then PATH.
func findVersityGW() (string, error) {
	if p := os.Getenv(EnvVersityGW); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVersityGW, p, err)
		}
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".cache", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w in $%s, .cache/bin or PATH", ErrNoVersityGW, EnvVersityGW)
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func startVersityGW(bin, region, prefix string) (*S3Server, error) {
	dir, err := os.MkdirTemp("", "debfleet-versitygw-")
	if err != nil {
		return nil, err
	}
	srv, err := launchVersityGW(bin, region, prefix, dir, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv.dir = dir
	return srv, nil
}

// launchVersityGW runs versitygw over dir's data and versions
// directories (made if missing) on a free 127.0.0.1 port, with extra
// arguments before the backend's; its output goes to dir/versitygw.log.
// The returned server's dir is unset: Close removes nothing.
func launchVersityGW(bin, region, prefix, dir string, extra []string) (*S3Server, error) {
	data, versions := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()

	srv := &S3Server{
		Endpoint:     "http://" + addr,
		Region:       region,
		AccessKey:    "AK" + strings.ToUpper(randomHex(9)),
		SecretKey:    randomHex(20),
		bucketPrefix: prefix,
		exited:       make(chan struct{}),
	}
	log, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	args := append([]string{"--port", addr, "--region", region, "--quiet"}, extra...)
	cmd := exec.Command(bin, append(args, "posix", "--versioning-dir", versions, data)...)
	// Credentials go through the environment, not argv, so that ps does
	// not show them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+srv.AccessKey, "ROOT_SECRET_ACCESS_KEY="+srv.SecretKey)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a Ctrl-C in the terminal goes to the test
	// binary, which then stops the server in order.
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv.cmd = cmd
	go func() {
		cmd.Wait()
		close(srv.exited)
	}()
	if err := srv.waitReady(10 * time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "versitygw.log"))
		srv.Close()
		return nil, fmt.Errorf("versitygw on %s: %w; its output:\n%s", addr, err, out)
	}
	return srv, nil
}

// StartS3In starts versitygw like StartS3, but over dir/data and
// dir/versions (made if missing), which Close keeps: for a benchmark
// that seeds a large bucket once and reuses it. extra are more
// versitygw flags (e.g. "--access-log", FILE). It ignores
// DEBFLEET_S3_ENDPOINT: a kept directory is versitygw's.
func StartS3In(dir string, extra ...string) (*S3Server, error) {
	bin, err := findVersityGW()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		srv, err := launchVersityGW(bin, "us-east-1", "debfleet-bench-", dir, extra)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// waitReady polls until the server answers HTTP (any status: an anonymous
// request gets 403) or the process exits.
func (s *S3Server) waitReady(limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("exited during startup")
		default:
		}
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer within %v", limit)
}

// s3StopTimeout bounds versitygw's own shutdown: it finishes the requests
// in flight (a test's last ones, on a machine at load 16 seen taking over
// 5 s) before it exits.
const s3StopTimeout = 20 * time.Second

// Close stops the server by its PID (SIGTERM, then SIGKILL after 5 s) and
// removes its directories. It does nothing for an external endpoint.
func (s *S3Server) Close() error {
	if s.cmd == nil {
		return nil
	}
	var err error
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(s3StopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("versitygw ignored SIGTERM for %s; killed", s3StopTimeout)
		}
	}
	s.cmd = nil
	if s.dir == "" {
		return err
	}
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// PID returns the versitygw process id, or 0 for an external endpoint.
func (s *S3Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Credentials returns a static provider for the server's credentials.
func (s *S3Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, s.SessionToken)
}

// Env returns environment variables (KEY=value) that make the AWS SDK's
// default chain talk to this server: for subprocesses, or for t.Setenv.
func (s *S3Server) Env() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		// Keep the SDK from looking at the developer's profile or an
		// instance metadata service.
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
	if s.SessionToken != "" {
		env = append(env, "AWS_SESSION_TOKEN="+s.SessionToken)
	}
	if s.Endpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL_S3="+s.Endpoint)
	}
	return env
}

// Client returns a plain SDK client for the server, for tests that look
// behind the back of the code under test.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		Credentials:  s.Credentials(),
		BaseEndpoint: nzString(s.Endpoint),
		UsePathStyle: s.Endpoint != "",
	})
}

func nzString(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// CreateBucket creates a uniquely named, empty bucket (versioned when
// versioned is true) and returns its name. The caller deletes it on an
// external endpoint (DeleteBucket); versitygw's whole directory goes away
// with the server.
func (s *S3Server) CreateBucket(ctx context.Context, versioned bool) (string, error) {
	name := s.bucketPrefix + randomHex(6)
	c := s.Client()
	in := &s3.CreateBucketInput{Bucket: &name}
	if s.External && s.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(s.Region),
		}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		return "", fmt.Errorf("create bucket %s: %w", name, err)
	}
	if versioned {
		_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  &name,
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		})
		if err != nil {
			return "", fmt.Errorf("enable versioning on %s: %w", name, err)
		}
	}
	return name, nil
}

// DeleteBucket removes every object version, delete marker and unfinished
// multipart upload in bucket, then the bucket.
func (s *S3Server) DeleteBucket(ctx context.Context, bucket string) error {
	c := s.Client()
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		return err
	}
	for _, u := range uploads.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
			return err
		}
	}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, v := range page.Versions {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: v.Key, VersionId: v.VersionId}); err != nil {
				return err
			}
		}
		for _, m := range page.DeleteMarkers {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: m.Key, VersionId: m.VersionId}); err != nil {
				return err
			}
		}
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
	return err
}
