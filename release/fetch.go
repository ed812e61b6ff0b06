package release

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// copyBuffer is the size of each read of a response body.
const copyBuffer = 256 << 10

// FileWriter is what Fetch needs to download in parallel: *os.File open
// for reading and writing (not O_APPEND). Ranges are written where they
// belong, from the current offset on, and read back in order to be
// hashed; at the end the offset is past the release, as after writing it
// in one go.
type FileWriter interface {
	io.WriterAt
	io.ReaderAt
	io.Seeker
}

// Fetch streams version versionID of a (which must not be empty: a fetch
// is always pinned, so a publish in between cannot mix two releases) into
// w and checks what it received against two claims: the manifest's size
// and SHA-256, and S3's own SHA-256 checksum of the stored object (see
// s3Checksum). It fails with ErrNoManifest when the version has no
// manifest and ErrChecksumMismatch on any difference; w has then received
// bytes that must be discarded. An object whose length is not the
// manifest's size is refused before any byte is read, and w never
// receives more than size+1 bytes.
//
// The first request is one GET of the whole version, which is all a
// release under twice Options.PartSize costs. A larger one written to a
// FileWriter (an *os.File) comes in up to Concurrency equal ranges of at
// least PartSize (cut on the upload's part boundaries when S3's checksum
// is a composite of the parts), all at once: the first GET's
// body serves the first range, ranged GETs of the same VersionId the
// others, each written in place and hashed for S3's composite checksum as
// it arrives, while the whole is hashed in order by reading back what is
// complete. A range cut short is asked again from where it stopped, at
// most Options.FetchAttempts times; a body silent for Options.IdleTimeout
// counts as cut. Any other writer gets the whole body in order from the
// first GET. Memory does not depend on the object's size (about 2 MiB
// plus 256 KiB per range in flight).
func (c *Client) Fetch(ctx context.Context, a Address, versionID string, w io.Writer) (*Object, error) {
	// The first GET has a context of its own: a stalled body cancels
	// that request only, and its range is asked again.
	firstCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out, obj, err := c.getPinned(firstCtx, a, versionID)
	if err != nil {
		return nil, err
	}
	first := idleBody(out.Body, c.idle, cancel)
	defer first.Close()
	tgt := target(a, versionID)
	obj.S3Checksum = aws.ToString(out.ChecksumSHA256)
	if obj.Manifest == nil {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrNoManifest, Err: obj.ManifestErr, Detail: fmt.Sprint(obj.ManifestErr)}
	}
	if obj.Size != obj.Manifest.Size {
		// Refused before a byte is read: whoever wrote the object may
		// not make us store more than the signed size.
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch,
			Detail: fmt.Sprintf("the object is %d bytes, its manifest says %d", obj.Size, obj.Manifest.Size)}
	}
	want, err := c.s3Checksum(ctx, a, versionID, obj.S3Checksum, obj.Size)
	if err != nil {
		return obj, err
	}
	if want.value == "" {
		if want.crc, err = fullCRC(out); err != nil {
			return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch, Detail: err.Error()}
		}
		if want.crc != nil {
			want.value, obj.S3Checksum = want.crc.name, want.crc.name
		}
	}
	var partSizes []int64
	if want.parts != nil {
		partSizes = want.parts.sizes
	}
	// As many ranges as connections, each at least PartSize: a release
	// under twice PartSize stays one GET.
	cuts := max(1, min(int64(c.concurrency), obj.Size/c.partSize))
	ranges := rangesFor(obj.Size, (obj.Size+cuts-1)/cuts, partSizes)
	var n int64
	var sum []byte
	if f, ok := w.(FileWriter); ok && len(ranges) > 1 && seekable(f) {
		rf := &rangedFetch{c: c, a: a, versionID: versionID, size: obj.Size, f: f, ranges: ranges, crc: want.crcHash()}
		n, sum, err = rf.run(ctx, first)
		if err == nil && want.parts != nil {
			want.parts = completedParts(partSizes, rf.partSums)
		}
	} else {
		n, sum, err = c.fetchInOrder(first, w, obj.Manifest.Size, want)
	}
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(firstCtx), errStalled) {
			err = errStalled
		}
		return obj, c.opError("fetch", tgt, err)
	}
	if err := errors.Join(want.verify(sum), checkSum(obj.Manifest, n, sum)); err != nil {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch, Detail: err.Error(), Err: err}
	}
	obj.S3ChecksumVerified = want.value != ""
	return obj, nil
}

// fullCRC returns the check of the full-object CRC or SHA-1 S3 sent for
// out (the first of CRC32C, CRC32, CRC64NVME, SHA-1), nil when it sent
// none.
func fullCRC(out *s3.GetObjectOutput) (*plainCheck, error) {
	checks, err := fullChecksums(out)
	if err != nil || len(checks) == 0 {
		return nil, err
	}
	for _, ck := range checks {
		if ck.name == "S3 checksum CRC32C" {
			return &ck, nil
		}
	}
	return &checks[0], nil
}

// seekable reports whether f has an offset (a pipe has none).
func seekable(f FileWriter) bool {
	_, err := f.Seek(0, io.SeekCurrent)
	return err == nil
}

// fetchInOrder copies at most size+1 bytes of body to w, hashing them
// whole and, for a composite checksum, by part; it returns the count and
// the SHA-256.
func (c *Client) fetchInOrder(body io.Reader, w io.Writer, size int64, want s3Sum) (int64, []byte, error) {
	h := sha256.New()
	sinks := []io.Writer{w, h}
	if want.parts != nil {
		sinks = append(sinks, want.parts)
	}
	if crc := want.crcHash(); crc != nil {
		sinks = append(sinks, crc)
	}
	// One byte past the manifest's size is enough to tell a longer body.
	n, err := io.CopyBuffer(io.MultiWriter(sinks...), io.LimitReader(body, size+1), make([]byte, copyBuffer))
	return n, h.Sum(nil), err
}

// errStalled cancels a request whose body sent nothing for the idle
// timeout.
var errStalled = errors.New("no byte received for too long: the transfer stalled")

// idleReader cancels its request (through cancel) when no Read returns
// for d; every Read that returns restarts the clock.
type idleReader struct {
	io.ReadCloser
	t *time.Timer
	d time.Duration
}

func idleBody(body io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *idleReader {
	return &idleReader{ReadCloser: body, d: d, t: time.AfterFunc(d, func() { cancel(errStalled) })}
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.t.Reset(r.d)
	return n, err
}

func (r *idleReader) Close() error {
	r.t.Stop()
	return r.ReadCloser.Close()
}

// FetchFile is Fetch into the file path: it writes a temporary file in the
// same directory, syncs it and renames it to path only when size and
// SHA-256 match the manifest, so path never holds a partial or wrong
// release. On failure the temporary file is removed and path is untouched.
func (c *Client) FetchFile(ctx context.Context, a Address, versionID, path string) (*Object, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	obj, err := c.Fetch(ctx, a, versionID, tmp)
	if err != nil {
		return obj, err
	}
	if err := tmp.Sync(); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	if err := tmp.Close(); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	done = true
	return obj, nil
}
