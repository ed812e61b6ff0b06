package fleet_test

import (
	"context"
	"testing"

	"github.com/debfleet/debfleet/fleet/fleettest"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestStoreConformance runs the one Store suite against every Store the
// fleet runs on: memory, and S3 through release.Records (versitygw, or the
// server DEBFLEET_S3_ENDPOINT names: see README, "Running the tests
// against another S3 endpoint").
func TestStoreConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		fleettest.TestStore(t, fleettest.NewStore(), "bucket")
	})
	t.Run("s3", func(t *testing.T) {
		srv := testenv.S3(t)
		rc, err := release.New(context.Background(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
		if err != nil {
			t.Fatal(err)
		}
		fleettest.TestStore(t, rc.Records(), srv.Bucket(t, true))
	})
}
