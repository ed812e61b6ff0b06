package release

// How a release is cut into parts for upload and into ranges for download.

const (
	// minPartSize is S3's smallest part (but the last).
	minPartSize = 5 << 20
	// maxPartSize is S3's largest part.
	maxPartSize = 5 << 30
	// maxParts is S3's limit on the parts of one upload.
	maxParts = 10000
	// targetParts is how many parts Publish cuts a large release into:
	// enough to keep several connections busy on both sides (S3 serves
	// roughly 90 MB/s per connection), few enough that a publish and a
	// fetch of 200 MiB cost under 20 requests in all. Parts are streamed
	// from the file, so their size does not cost memory.
	targetParts = 8
)

// partSizeFor is the part size Publish uses for size bytes when parts are
// at least minPart: targetParts equal parts rounded up to a MiB, never
// below minPart nor above S3's limits. It returns 0 when size fits in one
// PUT (under minPart).
func partSizeFor(size, minPart int64) int64 {
	if size < minPart {
		return 0
	}
	p := (size + targetParts - 1) / targetParts
	p = (p + 1<<20 - 1) &^ (1<<20 - 1)
	p = max(p, minPart, (size+maxParts-1)/maxParts)
	return min(p, maxPartSize)
}

// uniformParts returns the sizes of the parts of size bytes cut every
// partSize bytes (the last part holds the rest).
func uniformParts(size, partSize int64) []int64 {
	var sizes []int64
	for off := int64(0); off < size; off += partSize {
		sizes = append(sizes, min(partSize, size-off))
	}
	return sizes
}

// byteRange is one ranged GET of a fetch: bytes [start, end) of the
// object, and, when S3's checksum is composite, the upload parts it
// covers exactly (firstPart, then len(parts) parts of those sizes).
type byteRange struct {
	start, end int64
	firstPart  int
	parts      []int64
}

// rangesFor cuts size bytes into ranges of at least target bytes. With
// parts (the upload's part sizes, for a composite checksum) a range is a
// run of whole parts, so the part digests can be computed where the
// bytes arrive; without, ranges are target bytes (the last holds the
// rest).
func rangesFor(size, target int64, parts []int64) []byteRange {
	target = max(target, 1)
	if parts == nil {
		var rs []byteRange
		for off := int64(0); off < size; off += target {
			rs = append(rs, byteRange{start: off, end: min(off+target, size)})
		}
		return rs
	}
	var rs []byteRange
	var cur *byteRange
	off := int64(0)
	for i, p := range parts {
		if cur == nil || cur.end-cur.start >= target {
			rs = append(rs, byteRange{start: off, end: off, firstPart: i})
			cur = &rs[len(rs)-1]
		}
		cur.end += p
		cur.parts = append(cur.parts, p)
		off += p
	}
	return rs
}
