package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is one entry of a channel's history.
type Version struct {
	VersionID    string
	LastModified time.Time
	Size         int64
	ETag         string
	// Current marks the version a GET without VersionId returns.
	Current bool
	// DeleteMarker: the key was deleted here; there is no release.
	DeleteMarker bool
	// Manifest is the version's manifest, nil for delete markers and
	// objects not written by Publish (ManifestErr says why).
	Manifest    *Manifest
	ManifestErr error
	// Plain is what a version without a manifest says it is in its own
	// first bytes (ReadPlain fills it in): unsigned, chosen by whoever
	// wrote the object. Nil until ReadPlain ran, and when it failed
	// (PlainErr says why).
	Plain    *PlainPackage
	PlainErr error
	// Encryption is how S3 says the version is encrypted (from its
	// HEAD); a rollback to it encrypts the copy the same way.
	Encryption Encryption
}

// headConcurrency bounds the HEAD requests History makes at once.
const headConcurrency = 4

// History lists every version of channel a, newest first, with each
// version's manifest. It costs one ListObjectVersions request per 1000
// versions plus one HEAD per version (S3 does not list user metadata);
// limit > 0 keeps only the newest limit entries and HEADs only those.
// A channel that never existed gives an empty list and no error; a
// missing bucket gives ErrNotFound.
func (c *Client) History(ctx context.Context, a Address, limit int) ([]Version, error) {
	var vs []Version
	p := s3.NewListObjectVersionsPaginator(c.s3, &s3.ListObjectVersionsInput{Bucket: &a.Bucket, Prefix: &a.Key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.opError("history", a.String(), err)
		}
		vs = append(vs, pageVersions(page, a.Key)...)
		if limit > 0 && len(vs) >= limit {
			vs = vs[:limit]
			break
		}
	}
	errs := make([]error, len(vs))
	sem := make(chan struct{}, headConcurrency)
	var wg sync.WaitGroup
	for i := range vs {
		if vs[i].DeleteMarker {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			obj, err := c.Head(ctx, a, vs[i].requestID())
			if err != nil {
				errs[i] = err
				return
			}
			vs[i].Manifest, vs[i].ManifestErr = obj.Manifest, obj.ManifestErr
			vs[i].Encryption = obj.Encryption
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, c.opError("history", a.String(), err)
		}
	}
	return vs, nil
}

// requestID is the VersionId to ask S3 for v by.
func (v Version) requestID() string {
	if v.VersionID == "null" && v.Current {
		// The object written while versioning was off. Some servers
		// (versitygw) do not accept versionId=null; the current object
		// is that version anyway.
		return ""
	}
	return v.VersionID
}

// mergeNewestFirst merges two newest-first lists; on equal times the
// current entry, then the object version, comes first.
func mergeNewestFirst(objs, markers []Version) []Version {
	out := make([]Version, 0, len(objs)+len(markers))
	for len(objs) > 0 && len(markers) > 0 {
		o, m := objs[0], markers[0]
		if m.Current || (!o.Current && m.LastModified.After(o.LastModified)) {
			out, markers = append(out, m), markers[1:]
		} else {
			out, objs = append(out, o), objs[1:]
		}
	}
	out = append(out, objs...)
	return append(out, markers...)
}

// PlainPackage is what a version without a manifest says it is in its own
// first bytes (for a .deb, its control member), as a PrefixReader read
// them. Nothing vouches for it: whoever could write the object chose every
// field, and a field may hold any bytes (ReadPlain only bounds their
// length), so quote them before they reach a terminal.
type PlainPackage struct {
	Package, Version, Architecture string
}

// PrefixReader reads what an object's first bytes say it is. release knows
// no package format, so the caller supplies one (cmd/pkgdeb's reads a
// .deb's control member). When prefix is too short to tell, it returns
// need > len(prefix), how many of the object's first bytes it must see,
// and no error.
type PrefixReader func(prefix []byte) (pkg PlainPackage, need int64, err error)

// What ReadPlain reads of a version: first the first plainPrefix bytes,
// then, if the reader asks for more, up to maxPlainPrefix; it keeps fields
// of at most maxPlainField bytes.
const (
	plainPrefix    = 64 << 10
	maxPlainPrefix = 1 << 20
	maxPlainField  = 256
)

// ReadPlain fills in Plain, or PlainErr, of every version in vs of channel
// a that has no manifest and is not a delete marker: the plain uploads
// (aws s3 cp, the console) that History lists without a package version.
// It reads each one's first 64 KiB with one ranged GET pinned to its
// VersionId and hands them to read; when read asks for more (a control
// member past 64 KiB), one more ranged GET brings the bytes it asked for,
// up to 1 MiB and never beyond. So a version costs one GET, at most two,
// and at most 1 MiB; GETs run at most 4 at once, and read runs one call
// at a time, so that memory stays within 4 MiB of buffers and one read's
// own bound whatever the objects hold. A failure is that version's
// PlainErr, never ReadPlain's error: it returns only the context's error,
// when it ends first.
func (c *Client) ReadPlain(ctx context.Context, a Address, vs []Version, read PrefixReader) error {
	sem := make(chan struct{}, headConcurrency)
	var readMu sync.Mutex
	serialRead := func(prefix []byte) (PlainPackage, int64, error) {
		readMu.Lock()
		defer readMu.Unlock()
		return read(prefix)
	}
	var wg sync.WaitGroup
	for i := range vs {
		if vs[i].Manifest != nil || vs[i].DeleteMarker {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			vs[i].Plain, vs[i].PlainErr = c.readPlain(ctx, a, vs[i], serialRead)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// readPlain reads one version's first bytes with read: see ReadPlain.
func (c *Client) readPlain(ctx context.Context, a Address, v Version, read PrefixReader) (*PlainPackage, error) {
	if v.Size <= 0 {
		return nil, errors.New("the object is empty")
	}
	vid := v.requestID()
	prefix, etag, err := c.getRange(ctx, a, vid, nil, min(v.Size, plainPrefix), "")
	if err != nil {
		return nil, err
	}
	pkg, need, err := read(prefix)
	if err == nil && need > int64(len(prefix)) {
		switch {
		case need > v.Size:
			return nil, fmt.Errorf("truncated: reading it takes its first %d bytes, the object has %d", need, v.Size)
		case need > maxPlainPrefix:
			return nil, fmt.Errorf("reading it takes its first %d bytes, more than the %d read of a version without a manifest", need, maxPlainPrefix)
		}
		// An unversioned read (vid "") must continue the same object.
		if prefix, _, err = c.getRange(ctx, a, vid, prefix, need, etag); err != nil {
			return nil, err
		}
		pkg, need, err = read(prefix)
		if err == nil && need > int64(len(prefix)) {
			err = fmt.Errorf("it asks for its first %d bytes after reading %d it had asked for", need, len(prefix))
		}
	}
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, value string }{{"package", pkg.Package}, {"version", pkg.Version}, {"architecture", pkg.Architecture}} {
		if len(f.value) > maxPlainField {
			return nil, fmt.Errorf("its %s is %d bytes long, more than the %d kept", f.name, len(f.value), maxPlainField)
		}
	}
	return &pkg, nil
}

// getRange reads the object's bytes from len(have) up to end with one
// ranged GET of version vid, and returns them appended to have, with the
// object's ETag. ifMatch, when not "", makes S3 refuse a different object
// (an unversioned read of a key overwritten meanwhile). Never more than
// end-len(have) bytes are read, whatever the server sends.
func (c *Client) getRange(ctx context.Context, a Address, vid string, have []byte, end int64, ifMatch string) ([]byte, string, error) {
	from := int64(len(have))
	in := &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", from, end-1))}
	if vid != "" {
		in.VersionId = &vid
	}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	tgt := target(a, vid)
	// S3's checksum is of the whole object, not of a range.
	out, err := c.s3.GetObject(ctx, in, withoutSDKChecksumValidation)
	if err != nil {
		return nil, "", c.opError("read", tgt, err)
	}
	defer out.Body.Close()
	if cr := aws.ToString(out.ContentRange); from > 0 && !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", from)) {
		// A server ignoring Range sends the object from its start.
		return nil, "", &Error{Op: "read", Target: tgt, Detail: fmt.Sprintf("asked for bytes %d-%d, got the range %q", from, end-1, cr)}
	}
	buf := append(have, make([]byte, end-from)...)
	if n, err := io.ReadFull(out.Body, buf[from:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, "", &Error{Op: "read", Target: tgt, Detail: fmt.Sprintf("got %d of the %d bytes asked for", n, end-from)}
		}
		return nil, "", c.opError("read", tgt, err)
	}
	return buf, aws.ToString(out.ETag), nil
}
