package fleet_test

import (
	"context"
	"os"
	"testing"

	"github.com/debfleet/debfleet/fleet/fleettest"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestStoreConformance runs the one Store suite against every Store the
// fleet runs on: memory, versitygw, and the S3 endpoint that
// DEBFLEET_S3_ENDPOINT names (with DEBFLEET_S3_BUCKET, a versioned
// bucket, and credentials from the usual AWS environment).
func TestStoreConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		fleettest.TestStore(t, fleettest.NewStore(), "bucket")
	})
	t.Run("versitygw", func(t *testing.T) {
		srv := testenv.S3(t)
		rc, err := release.New(context.Background(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
		if err != nil {
			t.Fatal(err)
		}
		fleettest.TestStore(t, rc.Records(), srv.Bucket(t, true))
	})
	t.Run("DEBFLEET_S3_ENDPOINT", func(t *testing.T) {
		endpoint, bucket := os.Getenv("DEBFLEET_S3_ENDPOINT"), os.Getenv("DEBFLEET_S3_BUCKET")
		if endpoint == "" || bucket == "" {
			t.Skip("set DEBFLEET_S3_ENDPOINT and DEBFLEET_S3_BUCKET to run the suite against another S3 server")
		}
		rc, err := release.New(context.Background(), release.Options{Endpoint: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		fleettest.TestStore(t, rc.Records(), bucket)
	})
}
