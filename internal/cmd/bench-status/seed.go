package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
)

// seeded is what a cached directory holds, written last as seed.json.
type seeded struct {
	Bucket  string    `json:"bucket"`
	Key     string    `json:"key"`
	Hosts   int       `json:"hosts"`
	Garbage int       `json:"garbage"`
	Seeded  time.Time `json:"seeded"`
	Took    string    `json:"took"`
}

// rel is a release the seeded hosts run or target.
type rel struct{ version, sha256, versionID string }

// seedWorkers is how many PutStatus calls run at once while seeding.
const seedWorkers = 32

// ensureSeeded returns the seed of dir, seeding it first when it has none
// (a half-seeded directory from an interrupted run is removed).
func ensureSeeded(ctx context.Context, dir string, hosts int) (*seeded, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "seed.json")); err == nil {
		var s seeded
		if err := json.Unmarshal(b, &s); err != nil || s.Hosts != hosts {
			return nil, fmt.Errorf("%s/seed.json: unreadable or for another size (remove the directory): %v", dir, err)
		}
		return &s, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	fmt.Printf("bench-status: seeding %d status objects into %s (once; later runs reuse it)\n", hosts, dir)
	start := time.Now()
	srv, err := realparts.StartS3In(dir)
	if err != nil {
		return nil, err
	}
	s, err := seed(ctx, srv, hosts)
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	s.Seeded, s.Took = time.Now().UTC(), time.Since(start).Round(time.Second).String()
	b, _ := json.MarshalIndent(s, "", "  ")
	fmt.Printf("bench-status: seeded %d hosts in %s\n", hosts, s.Took)
	return s, os.WriteFile(filepath.Join(dir, "seed.json"), b, 0o644)
}

// seed creates the bucket and channel and writes the status objects.
func seed(ctx context.Context, srv *realparts.S3Server, hosts int) (*seeded, error) {
	bucket, err := srv.CreateBucket(ctx, true)
	if err != nil {
		return nil, err
	}
	rc, err := release.New(ctx, release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		return nil, err
	}
	ch := release.Address{Bucket: bucket, Key: "bench/production.deb"}
	rels := map[string]rel{}
	for _, v := range []string{"1.0", "1.1"} {
		body := []byte("bench release " + v)
		sum := sha256.Sum256(body)
		m := &release.Manifest{Package: "hello", Version: v, Architecture: "amd64", SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(body)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "bench@seed"}
		res, err := rc.Publish(ctx, ch, release.PublishInput{Body: bytes.NewReader(body), Manifest: m})
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", v, err)
		}
		rels[v] = rel{version: v, sha256: m.SHA256, versionID: res.VersionID}
	}
	fc := fleet.New(rc.Records(), nil)
	garbage, err := putAll(ctx, srv, fc, ch, rels, hosts)
	if err != nil {
		return nil, err
	}
	return &seeded{Bucket: bucket, Key: ch.Key, Hosts: hosts, Garbage: garbage}, nil
}

// putAll writes hosts status objects, seedWorkers at a time, and returns
// how many are garbage (not JSON).
func putAll(ctx context.Context, srv *realparts.S3Server, fc *fleet.Client, ch release.Address, rels map[string]rel, hosts int) (int, error) {
	raw := srv.Client()
	next, garbage := atomic.Int64{}, atomic.Int64{}
	var wg sync.WaitGroup
	errs := make(chan error, seedWorkers)
	for range seedWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= hosts || ctx.Err() != nil {
					return
				}
				st := hostStatus(i, rels)
				var err error
				if st == nil {
					garbage.Add(1)
					a := fleet.StatusAddress(ch, hostName(i))
					_, err = raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: strings.NewReader("{not json")})
				} else {
					err = fc.PutStatus(ctx, ch, st)
				}
				if err != nil {
					errs <- fmt.Errorf("seed host %d: %w", i, err)
					return
				}
				if i%10000 == 9999 {
					fmt.Printf("bench-status:   %d written\n", i+1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(garbage.Load()), errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func hostName(i int) string { return fmt.Sprintf("host-%07d", i) }

// hostStatus is host i's status object, nil for a garbage one: one host
// in 500 on 1.0, one in 1000 each failed, rolled back, installing, one in
// 2000 refused, one in 5000 garbage; the others on 1.1.
func hostStatus(i int, rels map[string]rel) *fleet.HostStatus {
	now := time.Now().UTC()
	on := func(v string) (string, string, string) { r := rels[v]; return r.version, r.sha256, r.versionID }
	st := &fleet.HostStatus{Host: hostName(i), Package: "hello", State: fleet.StateOK, Since: now.Add(-time.Hour), Time: now}
	st.Version, st.SHA256, st.VersionID = on("1.1")
	target := func(state, msg string) {
		st.Version, st.SHA256, st.VersionID = on("1.0")
		st.State, st.Error = state, msg
		v, sum, vid := on("1.1")
		st.Target = &fleet.HostRelease{Version: v, SHA256: sum, VersionID: vid}
	}
	switch {
	case i%5000 == 7:
		return nil
	case i%1000 == 1:
		target(fleet.StateFailed, "install 1.1: dpkg: error processing package hello (--configure): installed hello package post-installation script subprocess returned error exit status 1")
	case i%1000 == 2:
		target(fleet.StateRolledBack, "health check GET http://127.0.0.1:8080/health: 500 Internal Server Error after 30s")
	case i%1000 == 3:
		target(fleet.StateInstalling, "")
	case i%2000 == 4:
		target(fleet.StateRefused, "signature: release is not signed and this agent requires signatures")
		st.Refusal = fleet.RefusedUnsigned
	case i%500 == 5:
		st.Version, st.SHA256, st.VersionID = on("1.0")
	}
	return st
}
