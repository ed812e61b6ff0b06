package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
	"github.com/debfleet/debfleet/restart"
)

// countingDoer counts the HTTP requests the SDK sends, retries included.
type countingDoer struct {
	next http.Client
	n    atomic.Int64
}

func (c *countingDoer) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

type result struct {
	Mode          string  `json:"mode"`
	SizeMiB       float64 `json:"size_mib"`
	UploadSec     float64 `json:"upload_s"`
	DigestSec     float64 `json:"digest_s,omitempty"` // release: the hashing part of upload_s
	UploadMiBps   float64 `json:"upload_mib_s"`
	DownloadSec   float64 `json:"download_s"`
	DownloadMiBps float64 `json:"download_mib_s"`
	Requests      int64   `json:"requests"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	// CPU seconds the download took of this process and of versitygw:
	// on loopback both share the machine's cores, so CPU is what bounds
	// the rate.
	DownloadCPUClient float64 `json:"download_cpu_client_s"`
	DownloadCPUServer float64 `json:"download_cpu_server_s"`
}

// main runs one mode:
//
//	bench-publish -mode prepare -file big.deb -size 200   # build the package
//	bench-publish -mode release -file big.deb             # Publish + Fetch
//	bench-publish -mode plain   -file big.deb             # PutObject + GetObject
//	bench-publish -mode compare -file big.deb -runs 3     # both, alternating, summarised
//	bench-publish -mode capped  -file capped.deb -runs 1  # downloads through a per-connection cap
//
// and, for capped, the downloads it runs in child processes: -mode get
// (one GetObject) and -mode fetch (release.Client.FetchFile), with
// -endpoint, -bucket, -key and -version-id.
func main() {
	mode := flag.String("mode", "", "prepare, release, plain, compare or capped (get and fetch are capped's children)")
	file := flag.String("file", "", "the package file (get, fetch: the file to download to)")
	sizeMiB := flag.Int("size", 200, "prepare: payload size in MiB")
	partMiB := flag.Int64("part-size", 0, "release: smallest part size in MiB (0: release.DefaultPartSize)")
	conc := flag.Int("concurrency", 0, "release: parts in flight (0: release.DefaultConcurrency)")
	runs := flag.Int("runs", 3, "compare, capped: runs of each mode")
	rate := flag.Int("rate", 10000, "capped: bandwidth of each connection, in KB/s (1000 bytes)")
	endpoint := flag.String("endpoint", "", "get, fetch: the S3 endpoint")
	bucket := flag.String("bucket", "", "get, fetch: the bucket")
	key := flag.String("key", "", "get, fetch: the key")
	versionID := flag.String("version-id", "", "get, fetch: the version")
	flag.Parse()
	ctx := context.Background()
	var err error
	switch *mode {
	case "prepare":
		err = prepare(ctx, *file, int64(*sizeMiB)<<20)
	case "compare":
		err = compare(*file, *runs)
	case "release", "plain":
		err = measure(ctx, *mode, *file, *partMiB<<20, *conc)
	case "capped":
		err = capped(ctx, *file, *runs, *rate)
	case "get", "fetch":
		err = download(ctx, *mode, *endpoint, *bucket, *key, *versionID, *file)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-publish:", err)
		os.Exit(1)
	}
}

// prepare builds a .deb with an incompressible payload of size bytes.
func prepare(ctx context.Context, path string, size int64) error {
	payload := path + ".payload"
	f, err := os.Create(payload)
	if err != nil {
		return err
	}
	defer os.Remove(payload)
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = deb.Build(ctx, out, &deb.Spec{
		Control: deb.Control{Package: "bigpayload", Version: "1.0", Architecture: "amd64",
			Maintainer: "Bench <bench@example.com>", Synopsis: "benchmark payload", Description: "Random bytes."},
		Entries:     []deb.Entry{{Type: deb.Regular, Dest: "/usr/share/bigpayload/data", Source: payload}},
		Compression: deb.None,
		TempDir:     filepath.Dir(path),
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// measure publishes path and fetches it back to path.fetched the mode's
// way against a fresh versitygw, checks the copy, and prints the result
// as JSON.
func measure(ctx context.Context, mode, path string, partSize int64, concurrency int) error {
	srv, err := realparts.StartS3()
	if err != nil {
		return err
	}
	defer srv.Close()
	bucket, err := srv.CreateBucket(ctx, true)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	back := path + ".fetched"
	defer os.Remove(back)
	doer := &countingDoer{}
	a := release.Address{Bucket: bucket, Key: "bench/production.deb"}

	var up, down, digest time.Duration
	cpu := &downloadCPU{server: srv.PID()}
	switch mode {
	case "release":
		c, err := release.New(ctx, release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials(), HTTPClient: doer,
			PartSize: partSize, Concurrency: concurrency})
		if err != nil {
			return err
		}
		up, down, digest, err = releaseRoundTrip(ctx, c, a, f, size, back, cpu)
		if err != nil {
			return err
		}
	case "plain":
		c := s3.New(s3.Options{Region: srv.Region, Credentials: srv.Credentials(), BaseEndpoint: aws.String(srv.Endpoint),
			UsePathStyle: true, HTTPClient: doer})
		if up, down, err = plainRoundTrip(ctx, c, a, f, size, back, cpu); err != nil {
			return err
		}
	}
	if err := sameFile(path, back); err != nil {
		return err
	}
	res := result{Mode: mode, SizeMiB: float64(size) / (1 << 20), UploadSec: up.Seconds(), DigestSec: digest.Seconds(), DownloadSec: down.Seconds(),
		Requests: doer.n.Load(), PeakRSSMiB: peakRSSMiB(), DownloadCPUClient: cpu.client, DownloadCPUServer: cpu.serverUsed}
	res.UploadMiBps = res.SizeMiB / up.Seconds()
	res.DownloadMiBps = res.SizeMiB / down.Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// releaseRoundTrip publishes f (size bytes) to a with release.Client and
// fetches it back into the file back, timing each direction.
func releaseRoundTrip(ctx context.Context, c *release.Client, a release.Address, f *os.File, size int64, back string, cpu *downloadCPU) (up, down, digest time.Duration, err error) {
	// Hashing the file is part of publishing (the manifest carries the
	// SHA-256), so it is timed too: one Digest pass gives the manifest's
	// SHA-256 and the parts' that the upload sends.
	start := time.Now()
	d, err := c.Digest(ctx, f, size)
	if err != nil {
		return 0, 0, 0, err
	}
	digest = time.Since(start)
	m := &release.Manifest{Package: "bigpayload", Version: "1.0", Architecture: "amd64",
		SHA256: d.SHA256, Size: size, PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "bench@localhost"}
	pub, err := c.Publish(ctx, a, release.PublishInput{Body: f, Manifest: m, Digest: d})
	if err != nil {
		return 0, 0, 0, err
	}
	up = time.Since(start)
	cpu.start()
	defer cpu.stop()
	start = time.Now()
	// Into the file itself, as the agent does: ranges are written in
	// place.
	out, err := os.Create(back)
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := c.Fetch(ctx, a, pub.VersionID, out); err != nil {
		out.Close()
		return 0, 0, 0, err
	}
	if err := out.Close(); err != nil {
		return 0, 0, 0, err
	}
	return up, time.Since(start), digest, nil
}

// plainRoundTrip puts f (size bytes) to a with one PutObject and gets it
// back into the file back with GetObject and io.Copy, timing each
// direction.
func plainRoundTrip(ctx context.Context, c *s3.Client, a release.Address, f *os.File, size int64, back string, cpu *downloadCPU) (up, down time.Duration, err error) {
	start := time.Now()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: f, ContentLength: aws.Int64(size)}); err != nil {
		return 0, 0, err
	}
	up = time.Since(start)
	cpu.start()
	defer cpu.stop()
	start = time.Now()
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key})
	if err != nil {
		return 0, 0, err
	}
	defer obj.Body.Close()
	out, err := os.Create(back)
	if err != nil {
		return 0, 0, err
	}
	if _, err := io.Copy(out, obj.Body); err != nil {
		out.Close()
		return 0, 0, err
	}
	if err := out.Close(); err != nil {
		return 0, 0, err
	}
	return up, time.Since(start), nil
}

// sameFile checks the fetched copy, so a fast but wrong transfer cannot
// pass.
func sameFile(a, b string) error {
	sum := func(p string) ([]byte, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := sha256.New()
		_, err = io.Copy(h, f)
		return h.Sum(nil), err
	}
	x, err := sum(a)
	if err != nil {
		return err
	}
	y, err := sum(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(x, y) {
		return fmt.Errorf("fetched copy differs from %s", a)
	}
	return nil
}

// downloadCPU measures the CPU seconds this process and the server
// process take between start and stop.
type downloadCPU struct {
	server             int
	client, serverUsed float64
}

func (d *downloadCPU) start() {
	d.client, d.serverUsed = -cpuSeconds(os.Getpid()), -cpuSeconds(d.server)
}

func (d *downloadCPU) stop() {
	d.client += cpuSeconds(os.Getpid())
	d.serverUsed += cpuSeconds(d.server)
}

// cpuSeconds is the user and system time of process pid
// (restart.ReadProcStat), or 0 when it cannot be read.
func cpuSeconds(pid int) float64 {
	st, err := restart.ReadProcStat(pid)
	if err != nil {
		return 0
	}
	return (st.UserTime + st.SystemTime).Seconds()
}

// peakRSSMiB reads this process's high-water resident set size.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}

// compare runs plain and release alternately in child processes and
// prints each result and the medians' ratios.
func compare(path string, runs int) error {
	all := map[string][]result{}
	for i := 0; i < runs; i++ {
		for _, mode := range []string{"plain", "release"} {
			out, err := exec.Command(os.Args[0], "-mode", mode, "-file", path).Output()
			if err != nil {
				return fmt.Errorf("%s run %d: %w", mode, i+1, err)
			}
			var r result
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("%s run %d: %w", mode, i+1, err)
			}
			fmt.Print(string(out))
			all[mode] = append(all[mode], r)
		}
	}
	med := func(mode string, f func(result) float64) float64 {
		var v []float64
		for _, r := range all[mode] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	up := func(r result) float64 { return r.UploadMiBps }
	down := func(r result) float64 { return r.DownloadMiBps }
	rss := func(r result) float64 { return r.PeakRSSMiB }
	reqs := func(r result) float64 { return float64(r.Requests) }
	fmt.Printf("\nmedian of %d runs, %.0f MiB package     plain PutObject/GetObject   release.Publish/Fetch   ratio\n", runs, all["plain"][0].SizeMiB)
	fmt.Printf("upload (MiB/s, release incl. SHA-256 pass)  %10.0f  %22.0f  %10.2f\n", med("plain", up), med("release", up), med("release", up)/med("plain", up))
	fmt.Printf("download (MiB/s, release verifies SHA-256)  %10.0f  %22.0f  %10.2f\n", med("plain", down), med("release", down), med("release", down)/med("plain", down))
	fmt.Printf("peak RSS (MiB)                              %10.1f  %22.1f\n", med("plain", rss), med("release", rss))
	fmt.Printf("S3 requests (upload + download)             %10.0f  %22.0f\n", med("plain", reqs), med("release", reqs))
	cpuClient := func(r result) float64 { return r.DownloadCPUClient }
	cpuServer := func(r result) float64 { return r.DownloadCPUServer }
	fmt.Printf("download CPU-s, client                      %10.2f  %22.2f\n", med("plain", cpuClient), med("release", cpuClient))
	fmt.Printf("download CPU-s, versitygw                   %10.2f  %22.2f\n", med("plain", cpuServer), med("release", cpuServer))
	one, two := hashSpeedup()
	fmt.Printf("SHA-256 on this machine: %.0f MiB/s on one goroutine, %.2fx that on two at once (2.00x: two free cores)\n", one, two)
	return nil
}

// hashSpeedup measures SHA-256 in memory on one goroutine (MiB/s) and how
// much more two goroutines hash in the same time: whether the download's
// hashing goroutine really has a core of its own beside the receiving one.
func hashSpeedup() (mibps, speedup float64) {
	const total = 256 << 20
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	hash := func() {
		h := sha256.New()
		for range total / len(buf) {
			h.Write(buf)
		}
	}
	start := time.Now()
	hash()
	alone := time.Since(start)
	start = time.Now()
	var wg sync.WaitGroup
	wg.Go(hash)
	wg.Go(hash)
	wg.Wait()
	both := time.Since(start)
	return float64(total>>20) / alone.Seconds(), 2 * alone.Seconds() / both.Seconds()
}
