package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
)

var s3env = testenv.NewS3Env()

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(publishHelper())
	}
	code := m.Run()
	s3env.Close()
	os.Exit(code)
}

// testClient returns a Client for the shared server with small parts, so
// that a few MiB already go multipart.
func testClient(t *testing.T, srv *testenv.S3Server) *Client {
	t.Helper()
	c, err := New(context.Background(), Options{
		Endpoint:    srv.Endpoint,
		Region:      srv.Region,
		Credentials: srv.Credentials(),
		PartSize:    5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testManifest describes body as release version of package "hello".
func testManifest(body []byte, version string) *Manifest {
	sum := sha256.Sum256(body)
	return &Manifest{
		Package:      "hello",
		Version:      version,
		Architecture: "amd64",
		SHA256:       hex.EncodeToString(sum[:]),
		Size:         int64(len(body)),
		PublishedAt:  time.Now().UTC().Truncate(time.Second),
		Publisher:    "ci@builder",
	}
}

func publishBytes(t *testing.T, c *Client, a Address, body []byte, version string) *PublishResult {
	t.Helper()
	res, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(body), Manifest: testManifest(body, version)})
	if err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
	return res
}
