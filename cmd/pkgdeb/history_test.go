package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestHistoryFieldsArePrintable: history prints manifest fields (version,
// publisher, key id) as they are, without visible. That is safe because
// a version whose metadata holds anything but printable ASCII in any
// manifest field has no manifest (release.ParseManifest, through
// Manifest.Validate) and is listed as a version without one, whose fields
// read from the package go through visible (TestHistoryPlainUploads):
// what a bucket writer puts in the metadata never reaches the terminal.
// This pins it.
func TestHistoryFieldsArePrintable(t *testing.T) {
	m := &release.Manifest{Package: "hello", Version: "1.0", Architecture: "all", SHA256: strings.Repeat("ab", 32), Size: 1,
		PublishedAt: time.Unix(1700000000, 0).UTC(), Publisher: "ci@runner", GitCommit: "0123abc", KeyID: "k1", Signature: []byte("sig"),
		Extra: map[string]string{"rollout": "10%,100%"}}
	md := m.Metadata()
	if _, err := release.ParseManifest(md); err != nil {
		t.Fatal(err)
	}
	for name := range md {
		if name == "debfleet-manifest" {
			continue
		}
		for _, v := range []string{setTitle, clearAll, overwrite, bidi, csi8, "1.0\x7f", "1.0\n"} {
			bad := maps.Clone(md)
			bad[name] = v
			if got, err := release.ParseManifest(bad); !errors.Is(err, release.ErrNoManifest) {
				t.Errorf("%s %q: manifest %+v, error %v; want release.ErrNoManifest", name, v, got, err)
			}
		}
	}
}

// plainDeb builds hello_<version>_amd64.deb with deb.Build: a file of
// payload random bytes (which gzip stores), and a postinst of about
// script bytes of random hex (which gzip halves) when script > 0.
func plainDeb(t *testing.T, version string, payload, script int) []byte {
	t.Helper()
	spec := &deb.Spec{
		Control: deb.Control{Package: "hello", Version: version, Architecture: "amd64",
			Maintainer: "Ops <ops@example.com>", Synopsis: "says hello", Description: "Says hello."},
		Entries: []deb.Entry{{Type: deb.Regular, Dest: "/usr/share/hello/blob", Body: randomBytes(payload)}},
	}
	if script > 0 {
		spec.Scripts.Postinst = []byte("#!/bin/sh\n: " + hex.EncodeToString(randomBytes(script/2)) + "\n")
	}
	var b bytes.Buffer
	if _, err := deb.Build(t.Context(), &b, spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// putMultipart uploads body to bucket/key in parts of 5 MiB with the
// SDK's multipart calls and no metadata, as any S3 client may.
func putMultipart(t *testing.T, cl *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	ctx := t.Context()
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	mustDo(t, err)
	var parts []s3types.CompletedPart
	for off := 0; off < len(body); off += 5 << 20 {
		n := aws.Int32(int32(len(parts) + 1))
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: n,
			Body: bytes.NewReader(body[off:min(off+5<<20, len(body))])})
		mustDo(t, err)
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: n})
	}
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	mustDo(t, err)
}

// escapesDeb is a .deb whose Package and Version hold terminal escapes,
// as anyone can write by hand (pkgdeb build refuses them).
func escapesDeb(t *testing.T) []byte {
	t.Helper()
	var control bytes.Buffer
	tw := tar.NewWriter(&control)
	body := "Package: evil" + clearAll + "\nVersion: 1.0" + setTitle + "\nArchitecture: all" + bidi + "\nMaintainer: A <a@example.com>\nDescription: x\n"
	mustDo(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./control", Mode: 0o644, Size: int64(len(body))}))
	_, err := tw.Write([]byte(body))
	mustDo(t, err)
	mustDo(t, tw.Close())
	return arArchive(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar", control.Bytes()}, arMember{"data.tar", make([]byte, 1024)})
}

// getLog counts the GETs of object versions a proxy sees, by VersionId.
type getLog struct {
	mu   sync.Mutex
	gets map[string]int
}

func (l *getLog) before(r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Query().Has("versions") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gets[r.URL.Query().Get("versionId")]++
}

// plainUpload is one version TestHistoryPlainUploads writes, and what
// history shows of it.
type plainUpload struct {
	name    string
	upload  func()
	version string // shown; "?" when the package cannot be read
	note    string // in the text's NOTE, and --json's package_error when version is "?"
	gets    int    // ranged GETs history makes of it
}

// plainUploads are the versions TestHistoryPlainUploads writes to
// channel, oldest first: a signed release, then .debs uploaded without
// pkgdeb in every way, then objects that are not .debs.
func plainUploads(t *testing.T, srv *testenv.S3Server, bucket, key string) []plainUpload {
	cl := srv.Client()
	putMeta := func(b []byte, md map[string]string) func() {
		return func() {
			_, err := cl.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b), Metadata: md})
			mustDo(t, err)
		}
	}
	put := func(b []byte) func() { return putMeta(b, nil) }
	channel := "s3://" + bucket + "/" + key
	file := func(b []byte) string {
		path := filepath.Join(t.TempDir(), "hello.deb")
		mustDo(t, os.WriteFile(path, b, 0o644))
		return path
	}
	awsCp := func(b []byte) func() {
		return func() { srv.AWS(t, "s3", "cp", "--only-show-errors", file(b), channel) }
	}
	small := plainDeb(t, "1.0", 100, 0)
	const unsigned = "read from the .deb, unsigned: package hello, amd64"
	return []plainUpload{
		{"signed release", func() {
			keyPath := filepath.Join(t.TempDir(), "ci")
			mustRun(t, "keygen", "--out", keyPath)
			mustRun(t, "publish", "--sign-key", keyPath+".key", file(plainDeb(t, "0.9", 100, 0)), channel)
		}, "0.9", "", 0},
		{"PutObject", put(small), "1.0", unsigned, 1},
		{"multipart upload", func() { putMultipart(t, cl, bucket, key, plainDeb(t, "1.1", 11<<20, 0)) }, "1.1", unsigned, 1},
		{"aws s3 cp", awsCp(plainDeb(t, "1.2", 100, 0)), "1.2", unsigned, 1},
		{"aws s3 cp, multipart", awsCp(plainDeb(t, "1.3", 9<<20, 0)), "1.3", unsigned, 1},
		{"control member over 64 KiB", put(plainDeb(t, "1.4", 100, 200<<10)), "1.4", unsigned, 2},
		{"control member over 1 MiB", put(plainDeb(t, "1.5", 100, 2<<20)), "?", "more than the 1048576 read of a version without a manifest", 1},
		{"truncated", put(small[:300]), "?", "cannot read the .deb: truncated: reading it takes its first", 1},
		{"garbage", put(randomBytes(5000)), "?", "cannot read the .deb: not a .deb: no ar magic", 1},
		{"a shell script", put([]byte("#!/bin/sh\necho hello\n")), "?", "cannot read the .deb: not a .deb: no ar magic", 1},
		{"an ar archive", put(arArchive(arMember{"hello.o", []byte("\x7fELF")})), "?", `cannot read the .deb: not a .deb: first member is "hello.o"`, 1},
		{"empty", put(nil), "?", "cannot read the .deb: the object is empty", 0},
		{"invalid manifest", putMeta(plainDeb(t, "1.6", 100, 0), map[string]string{"debfleet-manifest": "99"}), "1.6",
			`manifest refused (no release manifest: manifest format "99", this program reads "1"); ` + unsigned, 1},
		{"escapes", put(escapesDeb(t)), `1.0` + setTitleShown, "read from the .deb, unsigned: package evil" + clearAllShown + ", all" + bidiShown, 1},
	}
}

// TestHistoryPlainUploads: history shows the package version of .debs
// uploaded without pkgdeb (PutObject, a multipart upload, aws s3 cp, both
// ways), read from their control member with one ranged GET, two when it
// is over 64 KiB; what cannot be read (a control member over 1 MiB, a
// truncated package, garbage, something else) says why in its entry, and
// the rest of the history is still shown. Strings from the package reach
// the terminal quoted, and --json marks where each version's fields came
// from.
func TestHistoryPlainUploads(t *testing.T) {
	srv := relS3(t)
	bucket, key := srv.Bucket(t, true), "hello/production.deb"
	channel := "s3://" + bucket + "/" + key
	cl := srv.Client()
	uploads := plainUploads(t, srv, bucket, key)
	byID := map[string]plainUpload{}
	for _, u := range uploads {
		u.upload()
		head, err := cl.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		mustDo(t, err)
		byID[aws.ToString(head.VersionId)] = u
		if multipart := strings.Contains(aws.ToString(head.ETag), "-"); multipart != strings.Contains(u.name, "multipart") {
			t.Fatalf("%s: ETag %s", u.name, aws.ToString(head.ETag))
		}
	}
	_, err := cl.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	mustDo(t, err)

	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	log := &getLog{gets: map[string]int{}}
	proxy.SetFault(realparts.Fault{Before: log.before})
	table := mustRun(t, "history", "--endpoint", proxy.URL, channel)
	checkShown(t, "history", table)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != len(uploads)+2 || !strings.Contains(lines[1], "(deleted)") {
		t.Fatalf("history table:\n%s", table)
	}
	for _, line := range lines[2:] {
		vid := strings.Fields(line)[0]
		t.Run(byID[vid].name, func(t *testing.T) { checkPlainRow(t, byID[vid], line, log.gets[vid]) })
	}
	for _, e := range relHistory(t, channel)[1:] {
		checkPlainJSON(t, byID[e.VersionID], e)
	}
}

// checkPlainRow checks u's row of the history table, and the GETs made of
// it.
func checkPlainRow(t *testing.T, u plainUpload, line string, gets int) {
	if f := strings.Fields(line); f[2] != u.version || !strings.Contains(line, u.note) {
		t.Errorf("row %q, want version %q and %q", line, u.version, u.note)
	}
	publisher := "plain upload, no manifest"
	if u.name == "invalid manifest" {
		publisher = "invalid manifest"
	}
	if u.name != "signed release" && !strings.Contains(line, publisher) {
		t.Errorf("row %q does not say %q", line, publisher)
	}
	if gets != u.gets {
		t.Errorf("%d GETs, want %d", gets, u.gets)
	}
}

// checkPlainJSON checks u's --json entry e: the exact fields, and where
// they came from.
func checkPlainJSON(t *testing.T, u plainUpload, e historyEntry) {
	want := historyEntry{Version: u.version, FieldsFrom: "package", Package: "hello", Architecture: "amd64"}
	switch {
	case u.name == "signed release":
		want.FieldsFrom = "manifest"
	case u.name == "escapes":
		want.Package, want.Version, want.Architecture = "evil"+clearAll, "1.0"+setTitle, "all"+bidi
	case u.version == "?":
		want = historyEntry{PackageErr: e.PackageErr}
		if !strings.Contains(e.PackageErr, strings.TrimPrefix(u.note, "cannot read the .deb: ")) {
			t.Errorf("%s: package_error %q, want %q", u.name, e.PackageErr, u.note)
		}
	}
	got := historyEntry{Package: e.Package, Version: e.Version, Architecture: e.Architecture, FieldsFrom: e.FieldsFrom, PackageErr: e.PackageErr}
	if got != want || e.FieldsFrom == "package" && e.ManifestErr == "" {
		t.Errorf("%s: --json %+v, want %+v", u.name, e, want)
	}
}
