package realparts

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// GRPCLoad puts LoadOptions' load on the gRPC health service at opts.Addr
// (grpc.health.v1.Health/Check, as examples/hellogrpc serves it): Workers
// goroutines share one client connection, as gRPC clients do, and each
// sends one call at a time. A call fails if it returns an error or an
// answer other than SERVING. Network, Path, KeepAlive, HTTPClient and URL
// are unused.
func GRPCLoad(ctx context.Context, opts LoadOptions) (*LoadResult, error) {
	opts = opts.withDefaults()
	cc, err := grpc.NewClient("passthrough:///"+opts.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("gRPC client for %s: %w", opts.Addr, err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var (
		sent atomic.Int64
		mu   sync.Mutex
		res  = &LoadResult{Errors: make(map[string]int)}
		wg   sync.WaitGroup
	)
	for range opts.Workers {
		wg.Go(func() {
			var samples []Sample
			failures := make(map[string]int)
			for ctx.Err() == nil && sent.Add(1) <= opts.MaxRequests {
				start := time.Now()
				err := check(client, opts.Timeout)
				samples = append(samples, Sample{Start: start, Latency: time.Since(start), OK: err == nil})
				if err != nil {
					failures[err.Error()]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.add(samples, failures)
		})
	}
	wg.Wait()
	res.Requests = int64(len(res.Samples))
	return res, nil
}

// check makes one call. It does not take the run's context: a call
// started before the end of the run finishes, within timeout.
func check(client healthpb.HealthClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %s", s)
	}
	return nil
}
