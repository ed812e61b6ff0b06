package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
)

// cappedRun is one download through the bandwidth-capped proxy, timed and
// measured from outside its process.
type cappedRun struct {
	Name       string  `json:"name"`
	Seconds    float64 `json:"seconds"`
	MiBps      float64 `json:"mib_s"`
	Requests   int     `json:"requests"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// target is the object the capped downloads fetch, and where.
type target struct {
	endpoint, bucket, key, versionID string
}

// capped publishes path to a fresh versitygw, puts an S3Proxy (to count
// requests) and a toxiproxy with a per-connection bandwidth cap of
// rateKBps in front of it, and downloads the release through them, runs
// times, three ways in their own processes: one GetObject, `aws s3 cp`
// (awscli's parallel ranged download) and release.Fetch. It prints each
// run and the medians' ratios.
func capped(ctx context.Context, path string, runs, rateKBps int) error {
	srv, err := realparts.StartS3()
	if err != nil {
		return err
	}
	defer srv.Close()
	tgt, err := seedCapped(ctx, srv, path)
	if err != nil {
		return err
	}
	counter, err := realparts.StartS3Proxy(srv.Endpoint)
	if err != nil {
		return err
	}
	defer counter.Close()
	tox, err := throttle(counter.URL, rateKBps)
	if err != nil {
		return err
	}
	defer tox.Stop()
	u, _ := url.Parse(counter.URL)
	u.Host = tox.Listen
	tgt.endpoint = u.String()
	env := slices.DeleteFunc(append(os.Environ(), srv.Env()...), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_ENDPOINT_URL")
	})
	all := map[string][]cappedRun{}
	order := []string{"GetObject", "aws s3 cp", "release.Fetch"}
	for i := 0; i < runs; i++ {
		for _, name := range order {
			r, err := runCapped(ctx, name, path, tgt, env, counter)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", name, i+1, err)
			}
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
			all[name] = append(all[name], r)
		}
	}
	printCapped(all, order, runs, rateKBps)
	return nil
}

// seedCapped publishes path with release.Client straight to srv (not
// through the cap) and returns where it is.
func seedCapped(ctx context.Context, srv *realparts.S3Server, path string) (target, error) {
	bucket, err := srv.CreateBucket(ctx, true)
	if err != nil {
		return target{}, err
	}
	c, err := release.New(ctx, release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		return target{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return target{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return target{}, err
	}
	d, err := c.Digest(ctx, f, fi.Size())
	if err != nil {
		return target{}, err
	}
	a := release.Address{Bucket: bucket, Key: "bench/capped.deb"}
	m := &release.Manifest{Package: "bigpayload", Version: "1.0", Architecture: "amd64", SHA256: d.SHA256, Size: fi.Size(),
		PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "bench@localhost"}
	pub, err := c.Publish(ctx, a, release.PublishInput{Body: f, Manifest: m, Digest: d})
	if err != nil {
		return target{}, err
	}
	return target{bucket: bucket, key: a.Key, versionID: pub.VersionID}, nil
}

// throttle starts toxiproxy in process in front of upstream (a URL) with
// the server-to-client stream of each connection capped at rateKBps
// (1000 bytes a second each).
func throttle(upstream string, rateKBps int) (*toxiproxy.Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(server, "bench-capped", "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	toxic := fmt.Sprintf(`{"name":"cap","type":"bandwidth","stream":"downstream","attributes":{"rate":%d}}`, rateKBps)
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		p.Stop()
		return nil, fmt.Errorf("add the bandwidth toxic: %w", err)
	}
	return p, nil
}

// runCapped downloads tgt one way into a fresh file in its own process,
// checks the copy against path, and measures time, requests and the
// process's peak RSS.
func runCapped(ctx context.Context, name, path string, tgt target, env []string, counter *realparts.S3Proxy) (cappedRun, error) {
	out := path + ".capped"
	defer os.Remove(out)
	var cmd *exec.Cmd
	switch name {
	case "aws s3 cp":
		cmd = exec.CommandContext(ctx, "aws", "s3", "cp", "--only-show-errors", "--endpoint-url", tgt.endpoint,
			"s3://"+tgt.bucket+"/"+tgt.key, out)
	default:
		mode := map[string]string{"GetObject": "get", "release.Fetch": "fetch"}[name]
		cmd = exec.CommandContext(ctx, os.Args[0], "-mode", mode, "-endpoint", tgt.endpoint, "-bucket", tgt.bucket,
			"-key", tgt.key, "-version-id", tgt.versionID, "-file", out)
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	before := len(counter.Requests())
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return cappedRun{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	secs := time.Since(start).Seconds()
	if err := sameFile(path, out); err != nil {
		return cappedRun{}, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return cappedRun{}, err
	}
	r := cappedRun{Name: name, Seconds: secs, MiBps: float64(fi.Size()) / (1 << 20) / secs, Requests: len(counter.Requests()) - before}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSSMiB = float64(ru.Maxrss) / 1024
	}
	return r, nil
}

// download is one capped download in this process: "get" (one GetObject
// copied to the file) or "fetch" (release.Client.FetchFile).
func download(ctx context.Context, mode, endpoint, bucket, key, versionID, file string) error {
	switch mode {
	case "fetch":
		c, err := release.New(ctx, release.Options{Endpoint: endpoint})
		if err != nil {
			return err
		}
		_, err = c.FetchFile(ctx, release.Address{Bucket: bucket, Key: key}, versionID, file)
		return err
	case "get":
		c := s3.New(s3.Options{Region: os.Getenv("AWS_REGION"), BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
			Credentials: aws.NewCredentialsCache(envCredentials{})})
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, VersionId: &versionID})
		if err != nil {
			return err
		}
		defer obj.Body.Close()
		out, err := os.Create(file)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, obj.Body); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return fmt.Errorf("unknown download mode %q", mode)
}

// envCredentials reads the static credentials runCapped passes in the
// environment.
type envCredentials struct{}

func (envCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
}

// printCapped prints the medians and the ratios against one GetObject
// and against aws s3 cp.
func printCapped(all map[string][]cappedRun, order []string, runs, rateKBps int) {
	med := func(name string, f func(cappedRun) float64) float64 {
		var v []float64
		for _, r := range all[name] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	secs := func(r cappedRun) float64 { return r.Seconds }
	fmt.Printf("\ncapped at %.0f MB/s per connection, median of %d runs   seconds   vs GetObject   vs aws s3 cp   requests   peak RSS (MiB)\n",
		float64(rateKBps)/1000, runs)
	for _, name := range order {
		fmt.Printf("%-56s %7.2f %12.2fx %13.2fx %10.0f %16.1f\n", name, med(name, secs),
			med("GetObject", secs)/med(name, secs), med("aws s3 cp", secs)/med(name, secs),
			med(name, func(r cappedRun) float64 { return float64(r.Requests) }),
			med(name, func(r cappedRun) float64 { return r.PeakRSSMiB }))
	}
}
