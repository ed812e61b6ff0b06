package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync"
)

// Digest is what Publish must know of a body before it uploads it: the
// SHA-256 of the whole (the manifest's) and, for a multipart upload, the
// CRC32C of each part and of the whole, which go with the upload so that
// S3 verifies every byte it receives (each part, then the whole object
// at CompleteMultipartUpload) without the uploader reading the file
// twice. CRC32C costs almost nothing next to SHA-256 (hardware
// instructions), and S3 combines part CRCs into a full-object checksum,
// which a fetch checks without knowing how the upload was cut.
type Digest struct {
	// Size is the number of bytes hashed.
	Size int64
	// SHA256 is the whole body's SHA-256, lowercase hex.
	SHA256 string
	// PartSize is the part size of the multipart upload the digest was
	// made for; 0 when the body goes in one PUT.
	PartSize int64
	// PartCRC32C holds the CRC32C of each part and CRC32C the whole's
	// (nil for one PUT, which S3 checks against SHA256).
	PartCRC32C [][]byte
	CRC32C     []byte
}

// digestBlock is the read size of Digest: large enough for few reads,
// small enough that the blocks in flight cost little memory.
const digestBlock = 1 << 20

// Digest reads body (size bytes from offset 0) once and returns its
// SHA-256 and the CRC32Cs of each part Publish will upload it in with this
// Client's options and of the whole. The SHA-256 and the CRCs are
// computed on two goroutines fed by one reader: the time of one SHA-256
// pass. Pass the result as PublishInput.Digest (and its SHA256
// as the manifest's) so that the body is hashed once; Publish computes it
// itself otherwise.
func (c *Client) Digest(ctx context.Context, body io.ReaderAt, size int64) (*Digest, error) {
	d := &Digest{Size: size, PartSize: partSizeFor(size, c.partSize)}
	whole := sha256.New()
	sinks := []io.Writer{whole}
	var parts *partHasher
	wholeCRC := newCRC32C()
	if d.PartSize > 0 {
		parts = newPartHasher(uniformParts(size, d.PartSize), newCRC32C)
		sinks = append(sinks, io.MultiWriter(parts, wholeCRC))
	}
	if err := fanOut(ctx, body, size, sinks); err != nil {
		return nil, fmt.Errorf("hash %d bytes: %w", size, err)
	}
	d.SHA256 = hex.EncodeToString(whole.Sum(nil))
	if parts != nil {
		for i := range len(parts.sums) / crc32.Size {
			d.PartCRC32C = append(d.PartCRC32C, parts.sums[i*crc32.Size:(i+1)*crc32.Size])
		}
		d.CRC32C = wholeCRC.Sum(nil)
	}
	return d, nil
}

// newCRC32C returns a CRC32C hash (Castagnoli: S3's CRC32C, computed
// with SSE4.2 instructions).
func newCRC32C() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

// fanOut reads body's size bytes once, in order, and writes every block
// to each sink, each sink on its own goroutine. At most 4 blocks are in
// memory at once.
func fanOut(ctx context.Context, body io.ReaderAt, size int64, sinks []io.Writer) error {
	const slots = 4
	type block struct {
		slot int
		b    []byte
	}
	var (
		bufs    [slots][]byte
		pending [slots]sync.WaitGroup // sinks still reading each slot
		chans   = make([]chan block, len(sinks))
		workers sync.WaitGroup
	)
	for i, w := range sinks {
		chans[i] = make(chan block, slots)
		workers.Go(func() {
			for blk := range chans[i] {
				w.Write(blk.b)
				pending[blk.slot].Done()
			}
		})
	}
	var err error
	for off, i := int64(0), 0; off < size && err == nil; off, i = off+digestBlock, (i+1)%slots {
		if err = ctx.Err(); err != nil {
			break
		}
		pending[i].Wait()
		if bufs[i] == nil {
			bufs[i] = make([]byte, digestBlock)
		}
		b := bufs[i][:min(digestBlock, size-off)]
		if _, err = body.ReadAt(b, off); err == io.EOF && off+int64(len(b)) == size {
			err = nil
		} else if err != nil {
			err = fmt.Errorf("read at %d: %w", off, err)
			break
		}
		for _, ch := range chans {
			pending[i].Add(1)
			ch <- block{i, b}
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	workers.Wait()
	return err
}
