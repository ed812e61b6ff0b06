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
// receives more than size+1 bytes. When w is an *os.File, the release's
// size is reserved in it first (fallocate, on Linux): a disk without room
// fails with ErrNoSpace before any byte is read, instead of being filled
// to the last byte, which the host's services may need, and then failing.
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
	if err := reserveFor(w, obj.Size); err != nil {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrNoSpace, Err: err, Detail: err.Error()}
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
	n, sum, err := c.transfer(ctx, a, versionID, first, w, obj.Size, &want)
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

// reserveFor reserves size bytes from w's offset when w is a file (see
// reserve), and says how much was wanted where when there is no room.
func reserveFor(w io.Writer, size int64) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not a regular file: nothing to reserve
	}
	if err := reserve(f, off, size); err != nil {
		return fmt.Errorf("no room for the release's %d bytes in %s: %w", size, filepath.Dir(f.Name()), err)
	}
	return nil
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

// transfer moves size bytes from first, the body of the GET of the whole
// version, to w, hashing them in order into a SHA-256 it returns and into
// want's checks. A file gets them in ranges (see Fetch), unless the first
// MiBs of first arrive at Options.SplitBelow or faster: then one
// connection is already as fast as the machine can take it, and further
// GETs would only cost requests and CPU.
func (c *Client) transfer(ctx context.Context, a Address, versionID string, first io.ReadCloser, w io.Writer, size int64, want *s3Sum) (int64, []byte, error) {
	var partSizes []int64
	if want.parts != nil {
		partSizes = want.parts.sizes
	}
	// As many ranges as connections, each at least PartSize: a release
	// under twice PartSize stays one GET.
	cuts := max(1, min(int64(c.concurrency), size/c.partSize))
	ranges := rangesFor(size, (size+cuts-1)/cuts, partSizes)
	f, ok := w.(FileWriter)
	var base int64
	var err error
	if ok {
		base, err = f.Seek(0, io.SeekCurrent) // fails on a pipe
	}
	if !ok || err != nil || len(ranges) < 2 {
		return c.fetchInOrder(first, w, size, *want)
	}
	rf := &rangedFetch{c: c, a: a, versionID: versionID, size: size, f: f, base: base, ranges: ranges, h: sha256.New(), crc: want.crcHash()}
	// A composite checksum is hashed by range: no single stream then.
	if want.parts == nil && c.splitBelow >= 0 && rf.probe(first) {
		n, err := pipedCopy(io.LimitReader(first, size+1-rf.hashed), io.NewOffsetWriter(f, base+rf.hashed), rf.sink())
		n += rf.hashed
		var p *permanentError
		if err != nil && !errors.As(err, &p) && ctx.Err() == nil && n < size {
			// Cut short: the rest as one range, asked again from
			// where it stopped.
			c.log.Warn("fetch: transfer cut short; asking again for the rest", "target", target(a, versionID), "done", n, "err", err)
			rf.hashed, rf.ranges = n, []byteRange{{start: 0, end: size}}
			return rf.run(ctx, nil)
		}
		if err == nil {
			_, err = f.Seek(base+n, io.SeekStart)
		}
		return n, rf.h.Sum(nil), err
	}
	n, sum, err := rf.run(ctx, first)
	if err == nil && want.parts != nil {
		want.parts = completedParts(partSizes, rf.partSums)
	}
	return n, sum, err
}

// fetchInOrder copies at most size+1 bytes of body to w, hashing them
// whole and, for a composite checksum, by part, on a goroutine of their
// own; it returns the count and the SHA-256.
func (c *Client) fetchInOrder(body io.Reader, w io.Writer, size int64, want s3Sum) (int64, []byte, error) {
	h := sha256.New()
	sinks := []io.Writer{h}
	if want.parts != nil {
		sinks = append(sinks, want.parts)
	}
	if crc := want.crcHash(); crc != nil {
		sinks = append(sinks, crc)
	}
	// One byte past the manifest's size is enough to tell a longer body.
	n, err := pipedCopy(io.LimitReader(body, size+1), w, io.MultiWriter(sinks...))
	return n, h.Sum(nil), err
}

// pipedCopy copies src to w and, on another goroutine, to hashes, so
// that hashing overlaps receiving and writing; at most 4 reads of
// copyBuffer bytes are in memory at once.
func pipedCopy(src io.Reader, w, hashes io.Writer) (int64, error) {
	const slots = 4
	full, free := make(chan []byte, slots), make(chan []byte, slots)
	for range slots {
		free <- make([]byte, copyBuffer)
	}
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range full {
			hashes.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var n int64
	var err error
	for err == nil {
		buf := <-free
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				err = &permanentError{fmt.Errorf("write: %w", werr)}
				break
			}
			n += int64(k)
			full <- buf[:k]
		} else {
			free <- buf
		}
		err = rerr
	}
	close(full)
	<-hashed
	if err == io.EOF {
		err = nil
	}
	return n, err
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
