package deflate

const (
	// denseSegment is the grid on which a chunk is checked for data that
	// looks incompressible. Unstripped Go binaries hold their DWARF
	// sections zlib-compressed by the linker, up to a quarter of the
	// file, in runs of a few KiB to several MiB that a chunk of 1 MiB
	// rarely lines up with: searching them for matches costs as much as
	// searching machine code and finds nothing. 16 KiB is small enough
	// to follow those runs and large enough for the byte counts to tell
	// them from code (see looksDense: random bytes measure ~7.9 bits per
	// byte; on scripts/bench-build's payloads, coding every segment over
	// the threshold as literals makes the output 0.03 % larger at most, so
	// what it picks in Go binaries is indeed incompressible).
	denseSegment = 16 << 10
	// denseShift is Dense's threshold: data whose order-2 Rényi entropy,
	// -log2(sum of p(b)^2) over its byte values, is at least denseShift
	// bits per byte. Random or already compressed data measures ~8; Go
	// binaries and source text stay under 5.5. The gzip writer uses it
	// to choose an encoder per chunk, and the parser to code a segment
	// as literals without a search.
	denseShift = 7
	// minDense is the shortest tail segment judged at all: on fewer bytes
	// the counts say too little.
	minDense = 4 << 10
)

// denseScan classifies the segments of one chunk as the parser reaches
// them. Segments are aligned on the chunk's start, so the verdict, and the
// output, depend only on the input.
type denseScan struct {
	start int // the chunk's first position: the grid's origin
	next  int // end of the last segment classified
	until int // end of the last segment found dense
}

// classify classifies the segment holding pos, which the parser has just
// reached (pos >= d.next): positions before d.until are then in a segment
// that looks incompressible.
func (d *denseScan) classify(buf []byte, pos int) {
	s := d.start + (pos-d.start)/denseSegment*denseSegment
	d.next = min(s+denseSegment, len(buf))
	if looksDense(buf[s:d.next]) {
		d.until = d.next
	}
}

// looksDense reports whether p, at least minDense bytes, looks
// incompressible (Dense).
func looksDense(p []byte) bool {
	return len(p) >= minDense && Dense(p)
}

// Dense reports whether p's byte values are spread so evenly (order-2
// Rényi entropy >= 7 bits per byte, i.e. sum of count^2 <= n^2 >> 7) that
// matches are not worth looking for: random, encrypted or already
// compressed data. It counts the first KiB of every 4 KiB: counting every
// byte cost ~2 % of the encoder's instructions on machine code, and 4 Ki
// samples of random bytes still measure ~7.9 bits. Exact integer
// arithmetic, so the verdict cannot depend on the machine. An empty p is
// not dense.
func Dense(p []byte) bool {
	const sample, stride = 1 << 10, 4 << 10
	// Four tables let consecutive equal bytes update different counters,
	// which is ~2x faster than one table on long runs.
	var h [4][256]uint32
	n := 0
	for off := 0; off < len(p); off += stride {
		q := p[off:min(off+sample, len(p))]
		n += len(q)
		i := 0
		for ; i+4 <= len(q); i += 4 {
			h[0][q[i]]++
			h[1][q[i+1]]++
			h[2][q[i+2]]++
			h[3][q[i+3]]++
		}
		for ; i < len(q); i++ {
			h[0][q[i]]++
		}
	}
	if n == 0 {
		return false
	}
	var sq uint64
	for c := range 256 {
		k := uint64(h[0][c]) + uint64(h[1][c]) + uint64(h[2][c]) + uint64(h[3][c])
		sq += k * k
	}
	return sq<<denseShift <= uint64(n)*uint64(n)
}
