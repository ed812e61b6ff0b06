package deflate

import (
	"encoding/binary"
	"math/bits"
)

const (
	windowSize = 1 << 15 // deflate's largest distance
	windowMask = windowSize - 1
	minMatch   = 3
	maxMatch   = 258

	hash4Bits = 16
	hash3Bits = 15
	hash8Bits = 16

	// maxDist3 is the farthest a 3-byte match may reach. Farther, its
	// distance code and extra bits cost more than three literals, as in
	// zlib's TOO_FAR.
	maxDist3 = 4096

	// blockTokens caps a Huffman block's literals and matches; blocks
	// usually end earlier, where splitStats sees the data change.
	blockTokens = 1 << 15
	// maxStored is the most a stored block can hold.
	maxStored = 65535
)

// Effort sets how hard the match finder searches. The zero value means
// the default: a depth of 12 and a nice length of 24. On the benchmark
// payload (Go binaries, source and small text files, random data) the
// package then comes within 0.4 % of dpkg-deb's gzip -9 size, 11x faster
// on two cores; depth 16 and nice 32 make the compressible part 0.3 %
// smaller for 8 % more time, depth 8 the reverse.
type Effort struct {
	// Depth is how many earlier positions with the same 4-byte hash are
	// compared at each position.
	Depth int
	// Nice is a match length that ends the search: longer matches are
	// rare enough that looking further costs more than it saves.
	Nice int
}

const (
	defaultDepth = 12
	defaultNice  = 24
)

// bias is added to the positions the tables hold, so that 0, what clear
// leaves, stands for a position a whole window before the first one:
// always out of reach.
const bias = windowSize

// Encoder holds the match finder's tables and the pending block; reusing
// one avoids allocating ~550 KiB per chunk. It is not safe for concurrent
// use.
type Encoder struct {
	effort Effort

	// Arrays rather than slices: indexes masked to their size need no
	// bounds checks in the search loop. They hold positions plus bias.
	head4 [1 << hash4Bits]int32 // latest position per 4-byte hash
	head3 [1 << hash3Bits]int32 // latest position per 3-byte hash
	head8 [1 << hash8Bits]int32 // latest position per 8-byte hash
	prev  [windowSize]int32     // previous position with the same 4-byte hash

	tokens   []uint32 // pending block: literals and matches, see token
	split    splitStats
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32

	bw  bitWriter
	huf huffmanScratch
}

// NewEncoder returns an encoder searching with effort e. A zero Depth or
// Nice takes the default; Nice is at most 258, the longest match.
func NewEncoder(e Effort) *Encoder {
	if e.Depth <= 0 {
		e.Depth = defaultDepth
	}
	if e.Nice <= 0 {
		e.Nice = defaultNice
	}
	e.Nice = min(max(e.Nice, minMatch), maxMatch)
	return &Encoder{effort: e, tokens: make([]uint32, 0, blockTokens)}
}

// Encode appends to dst the deflate encoding of buf[start:], with
// buf[:start] as history that matches may refer to (only its last 32 KiB
// matter); 0 <= start <= len(buf). When final is false the output ends
// with a sync flush (an empty stored block, as zlib's Z_SYNC_FLUSH writes
// it) so that the next chunk's encoding can simply follow; when final is
// true its last block ends the stream. Either way the output ends on a
// byte boundary.
func (e *Encoder) Encode(dst, buf []byte, start int, final bool) []byte {
	e.bw = bitWriter{out: dst}
	e.resetBlock()
	clear(e.head4[:])
	clear(e.head3[:])
	clear(e.head8[:])
	e.parse(buf, max(0, start-windowSize), start, final)
	if !final {
		// Sync flush: an empty stored block leaves the stream byte-aligned
		// for the next chunk.
		e.bw.writeBits(0, 3)
		e.bw.alignAndStore(nil)
	}
	e.bw.flush()
	return e.bw.out
}

// Tokens pack a literal as its byte value and a match as
// matchFlag | (length-3)<<15 | (distance-1).
const matchFlag = 1 << 31

func (e *Encoder) resetBlock() {
	e.tokens = e.tokens[:0]
	e.split = splitStats{}
	e.litFreq = [numLitLen]uint32{}
	e.distFreq = [numDist]uint32{}
}

// parse finds matches in buf[start:] (with buf[histStart:start] as history)
// and emits blocks, the last one with BFINAL set when final.
func (e *Encoder) parse(buf []byte, histStart, start int, final bool) {
	depth, nice := e.effort.Depth, e.effort.Nice
	end := len(buf)
	// Positions that can start a 4-byte hash: the last 3 bytes only ever
	// become literals or the tail of a match.
	hashEnd := end - 3

	e.insertRange(buf, histStart, min(start, hashEnd))

	blockStart := start
	pos := start
	dense := denseScan{start: start, next: start}
	for pos < end {
		if len(e.tokens) >= blockTokens-1 || e.split.shouldEnd(pos-blockStart, end-pos) {
			e.writeBlock(buf[blockStart:pos], false)
			blockStart = pos
		}
		// Incompressible segments become literals without a search: the
		// block splitter ends the block around them, and writeBlock
		// stores it or codes its byte frequencies, whichever is smaller.
		if pos >= dense.next {
			dense.classify(buf, pos)
		}
		if pos >= hashEnd || pos < dense.until {
			e.literal(buf[pos])
			pos++
			continue
		}
		curLen, curDist := e.longest(buf, pos, 2, depth, nice)
		if curLen < minMatch {
			e.literal(buf[pos])
			pos++
			continue
		}
		// Lazy matching: while the next position starts a clearly better
		// match, emit a literal and move on to it. The look-ahead search
		// is shallower, as in libdeflate.
		for curLen < nice && pos+1 < hashEnd {
			nextLen, nextDist := e.longest(buf, pos+1, curLen-1, depth>>1, nice>>1)
			if nextLen < curLen || 4*(nextLen-curLen)+bits.Len32(uint32(curDist))-bits.Len32(uint32(nextDist)) <= 2 {
				break
			}
			e.literal(buf[pos])
			pos++
			curLen, curDist = nextLen, nextDist
			if len(e.tokens) >= blockTokens-1 {
				e.writeBlock(buf[blockStart:pos], false)
				blockStart = pos
			}
		}
		e.match(curLen, curDist)
		// pos and, after a look-ahead, pos+1 are in the tables already;
		// inserting pos+1 twice would make its chain point to itself.
		next := pos + curLen
		from := pos + 1
		if curLen < nice && pos+1 < hashEnd {
			from = pos + 2
		}
		e.insertRange(buf, from, min(next, hashEnd))
		pos = next
	}
	e.writeBlock(buf[blockStart:end], final)
}

func hash4(v uint32) uint32 { return (v * 0x9E3779B1) >> (32 - hash4Bits) }
func hash3(v uint32) uint32 { return ((v << 8) * 0x9E3779B1) >> (32 - hash3Bits) }
func hash8(v uint64) uint64 { return (v * 0x9E3779B97F4A7C15) >> (64 - hash8Bits) }

// insertRange adds positions from to to-1 (each with at least 4 bytes
// after it) to the hash tables.
func (e *Encoder) insertRange(buf []byte, from, to int) {
	p := from
	// Where 8 bytes follow, one load serves all three hashes: positions
	// inside matches are most of those inserted, so this loop is hot.
	for end8 := min(to, len(buf)-7); p < end8; p++ {
		v8 := binary.LittleEndian.Uint64(buf[p:])
		v := uint32(v8)
		h := hash4(v)
		e.prev[p&windowMask] = e.head4[h]
		e.head4[h] = int32(p + bias)
		e.head3[hash3(v)] = int32(p + bias)
		e.head8[hash8(v8)] = int32(p + bias)
	}
	for ; p < to; p++ {
		v := binary.LittleEndian.Uint32(buf[p:])
		h := hash4(v)
		e.prev[p&windowMask] = e.head4[h]
		e.head4[h] = int32(p + bias)
		e.head3[hash3(v)] = int32(p + bias)
	}
}

// longest inserts position p and returns the longest match starting there
// that is longer than minLen, searching depth candidates and stopping at
// nice, or a length below minMatch when there is none.
func (e *Encoder) longest(buf []byte, p, minLen, depth, nice int) (length, dist int) {
	v := binary.LittleEndian.Uint32(buf[p:])
	h4, h3 := hash4(v), hash3(v)
	cand := int(e.head4[h4]) - bias
	cand3 := int(e.head3[h3]) - bias
	e.prev[p&windowMask] = e.head4[h4]
	e.head4[h4] = int32(p + bias)
	e.head3[h3] = int32(p + bias)

	maxLen := min(maxMatch, len(buf)-p)
	if minLen >= maxLen {
		return 0, 0
	}
	nice = min(nice, maxLen)
	best := minLen
	// A candidate at distance windowSize could have had its chain link
	// overwritten by p itself: stay strictly inside the window.
	limit := p - windowSize

	cur := buf[p : p+maxLen]
	if maxLen >= 8 {
		// The latest position with the same 8 bytes: in text made of a few
		// words, the 4-byte chain holds many short matches nearby and may
		// never reach the long one.
		v8 := binary.LittleEndian.Uint64(cur)
		h8 := hash8(v8)
		c8 := int(e.head8[h8]) - bias
		e.head8[h8] = int32(p + bias)
		if c8 > limit && binary.LittleEndian.Uint64(buf[c8:]) == v8 {
			if n := 8 + matchLen(buf[c8+8:], cur[8:]); n > best {
				best, dist = n, p-c8
				if n >= nice {
					return best, dist
				}
			}
		}
	}
	prev := &e.prev
	for ; cand > limit && depth > 0; depth-- {
		m := buf[cand : cand+maxLen]
		// Reject quickly on the byte that would make the match longer
		// than the best so far (best < maxLen holds: nice <= maxLen ends
		// the search), then on the first four.
		if m[best] == cur[best] && binary.LittleEndian.Uint32(m) == v {
			n := 4 + matchLen(m[4:], cur[4:])
			if n > best {
				best, dist = n, p-cand
				if n >= nice {
					break
				}
			}
		}
		cand = int(prev[cand&windowMask]) - bias
	}
	// No longer match: a 3-byte one, if it is near enough to pay.
	if best < minMatch && cand3 > p-maxDist3 && cand3 > limit &&
		binary.LittleEndian.Uint32(buf[cand3:])<<8 == v<<8 {
		best, dist = minMatch, p-cand3
	}
	if best <= minLen {
		return 0, 0
	}
	return best, dist
}

// matchLen returns how many leading bytes of a and b are equal; len(a) must
// be at least len(b).
func matchLen(a, b []byte) int {
	n := 0
	for len(b)-n >= 8 {
		if x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func (e *Encoder) literal(c byte) {
	e.tokens = append(e.tokens, uint32(c))
	e.litFreq[c]++
	e.split.literal(c)
}

func (e *Encoder) match(length, dist int) {
	e.tokens = append(e.tokens, matchFlag|uint32(length-minMatch)<<15|uint32(dist-1))
	e.litFreq[lengthSym[length-minMatch]]++
	e.distFreq[distCode(uint32(dist-1))]++
	e.split.match(length)
}
