package fleet

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
	"github.com/debfleet/debfleet/release"
)

var s3env = testenv.NewS3Env()

func TestMain(m *testing.M) {
	code := m.Run()
	s3env.Close()
	os.Exit(code)
}

// clients is a release client and the fleet client over it, so that a
// test publishes and coordinates through one value.
type clients struct {
	*release.Client
	*records
}

// records names Client for embedding next to release.Client.
type records = Client

// putJSON and getJSON write and read a document as status objects are.
func (c clients) putJSON(ctx context.Context, a release.Address, v any) error {
	_, err := c.Records().Put(ctx, a, v)
	return err
}

func (c clients) getJSON(ctx context.Context, a release.Address, v any) error {
	_, err := c.Records().Get(ctx, a, maxStatusSize, v)
	return err
}

func newClients(t testing.TB, o release.Options) clients {
	t.Helper()
	rc, err := release.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return clients{rc, New(rc.Records(), nil)}
}

// testClient returns clients for the shared server.
func testClient(t *testing.T, srv *testenv.S3Server) clients {
	return newClients(t, release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
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
func testManifest(body []byte, version string) *release.Manifest {
	sum := sha256.Sum256(body)
	return &release.Manifest{
		Package:      "hello",
		Version:      version,
		Architecture: "amd64",
		SHA256:       hex.EncodeToString(sum[:]),
		Size:         int64(len(body)),
		PublishedAt:  time.Now().UTC().Truncate(time.Second),
		Publisher:    "ci@builder",
	}
}

func publishBytes(t *testing.T, c clients, a release.Address, body []byte, version string) *release.PublishResult {
	t.Helper()
	res, err := c.Publish(testCtx(t), a, release.PublishInput{Body: bytes.NewReader(body), Manifest: testManifest(body, version)})
	if err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
	return res
}
