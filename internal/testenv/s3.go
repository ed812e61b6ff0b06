package testenv

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
)

// S3Server is a realparts.S3Server with the helpers that take a
// testing.TB. It is started by S3 or S3Env; point the code under test at it
// with its Env or SetEnv.
type S3Server struct {
	*realparts.S3Server
}

// S3 returns an S3 endpoint for one test, stopped when the test ends.
// Prefer one server per package with NewS3Env in TestMain when several
// tests need S3: starting versitygw takes a few tens of milliseconds.
//
// When versitygw cannot be found the test is skipped, or fails when the
// environment variable CI is "true".
func S3(t testing.TB) *S3Server {
	t.Helper()
	started, err := realparts.StartS3()
	if err != nil {
		skipOrFail(t, err)
	}
	srv := &S3Server{started}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop S3 server: %v", err)
		}
	})
	return srv
}

// S3Env shares one S3 server between the tests of a package. The server
// starts on the first call to Server and stops at Close; create it in
// TestMain:
//
//	var s3env = testenv.NewS3Env()
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		s3env.Close()
//		os.Exit(code)
//	}
type S3Env struct {
	once sync.Once
	srv  *S3Server
	err  error
}

// NewS3Env returns an S3Env that has not started anything yet.
func NewS3Env() *S3Env { return &S3Env{} }

// Server returns the shared server, starting it on first use. It skips t
// (or fails it in CI) when no server can be had.
func (e *S3Env) Server(t testing.TB) *S3Server {
	t.Helper()
	e.once.Do(func() {
		var srv *realparts.S3Server
		if srv, e.err = realparts.StartS3(); e.err == nil {
			e.srv = &S3Server{srv}
		}
	})
	if e.err != nil {
		skipOrFail(t, e.err)
	}
	return e.srv
}

// Close stops the shared server if it was started.
func (e *S3Env) Close() error {
	if e.srv == nil {
		return nil
	}
	return e.srv.Close()
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, realparts.ErrNoVersityGW) && os.Getenv("CI") != "true" {
		t.Skipf("%v; install it with %s", err, realparts.VersityGWInstall)
	}
	t.Fatalf("S3 test server: %v", err)
}

// SetEnv applies Env to the current process for the duration of t (so t
// must not be parallel).
func (s *S3Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
}

// Bucket creates a fresh, empty bucket for t, with versioning enabled when
// versioned is true, and returns its name. On an external endpoint the
// bucket and everything in it is deleted when t ends; versitygw's whole
// directory goes away with the server.
func (s *S3Server) Bucket(t testing.TB, versioned bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := s.CreateBucket(ctx, versioned)
	if err != nil {
		t.Fatalf("create test bucket: %v", err)
	}
	if s.External {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := s.DeleteBucket(ctx, name); err != nil {
				t.Errorf("delete test bucket %s: %v", name, err)
			}
		})
	}
	return name
}
