package deflate

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

const (
	numLitLen = 286 // literals, end of block, length codes
	numDist   = 30
	numPre    = 19 // code-length alphabet
	endBlock  = 256

	maxCodeBits = 15
	maxPreBits  = 7
)

// Base values and extra bits of the length and distance codes (RFC 1951
// section 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// preOrder is the order code-length code lengths are sent in.
	preOrder = [numPre]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// lengthSym maps length-3 to its literal/length symbol (257-285).
var lengthSym = func() (t [256]uint16) {
	for code := range lengthBase {
		lo := int(lengthBase[code]) - minMatch
		hi := 256
		if code+1 < len(lengthBase) {
			hi = int(lengthBase[code+1]) - minMatch
		}
		for l := lo; l < hi; l++ {
			t[l] = uint16(257 + code)
		}
	}
	return t
}()

// distCode maps distance-1 to its distance code.
func distCode(d uint32) uint32 {
	if d < 4 {
		return d
	}
	n := uint32(bits.Len32(d))
	return 2*(n-1) + (d>>(n-2))&1
}

// fixedLit and fixedDist are the lengths of the fixed Huffman codes.
var fixedLit, fixedDist = func() (lit [numLitLen + 2]uint8, dist [numDist]uint8) {
	for i := range lit {
		switch {
		case i < 144:
			lit[i] = 8
		case i < 256:
			lit[i] = 9
		case i < 280:
			lit[i] = 7
		default:
			lit[i] = 8
		}
	}
	for i := range dist {
		dist[i] = 5
	}
	return lit, dist
}()

// huffmanScratch holds what building a block's codes needs, kept to avoid
// allocating per block.
type huffmanScratch struct {
	litLen  [numLitLen]uint8
	dist    [numDist]uint8
	litCode [numLitLen + 2]uint16
	dstCode [numDist]uint16
	pre     [numPre]uint8
	preCode [numPre]uint16
	preFreq [numPre]uint32
	rle     []uint8 // code-length symbols, each followed by its extra value
	syms    []symFreq
	keys    []uint32
}

type symFreq struct {
	freq uint32
	sym  uint16
}

// writeBlock writes the pending tokens, which encode raw, as the cheapest
// of a dynamic Huffman, a fixed Huffman or stored blocks, and starts a new
// block.
func (e *Encoder) writeBlock(raw []byte, final bool) {
	h := &e.huf
	e.litFreq[endBlock]++
	// Every code gets two symbols at least. zlib's inflate, which dpkg
	// uses, rejects an incomplete code-length code and tolerates a
	// one-symbol literal or distance code only as a special case; unused
	// symbols with a frequency of 1 cost a few header bits at most.
	atLeastTwo(e.litFreq[:])
	atLeastTwo(e.distFreq[:])
	buildLengths(e.litFreq[:], h.litLen[:], maxCodeBits, h)
	buildLengths(e.distFreq[:], h.dist[:], maxCodeBits, h)

	nLit := lastNonZero(h.litLen[:], 257)
	nDist := lastNonZero(h.dist[:], 1)
	// Run-length encode both code length lists as one sequence.
	h.rle = h.rle[:0]
	h.preFreq = [numPre]uint32{}
	h.rle = appendRLE(h.rle, h.litLen[:nLit], h.dist[:nDist], &h.preFreq)
	atLeastTwo(h.preFreq[:])
	buildLengths(h.preFreq[:], h.pre[:], maxPreBits, h)
	nPre := numPre
	for nPre > 4 && h.pre[preOrder[nPre-1]] == 0 {
		nPre--
	}

	// Extra bits cost the same in dynamic and fixed blocks.
	var extra uint64
	for code, f := range e.litFreq[257:] {
		extra += uint64(f) * uint64(lengthExtra[code])
	}
	for code, f := range e.distFreq {
		extra += uint64(f) * uint64(distExtra[code])
	}
	dynamic := 3 + 5 + 5 + 4 + 3*uint64(nPre) + extra
	for s, f := range h.preFreq {
		dynamic += uint64(f) * uint64(h.pre[s])
	}
	dynamic += 2*uint64(h.preFreq[16]) + 3*uint64(h.preFreq[17]) + 7*uint64(h.preFreq[18])
	fixed := 3 + extra
	for s, f := range e.litFreq {
		dynamic += uint64(f) * uint64(h.litLen[s])
		fixed += uint64(f) * uint64(fixedLit[s])
	}
	for s, f := range e.distFreq {
		dynamic += uint64(f) * uint64(h.dist[s])
		fixed += uint64(f) * uint64(fixedDist[s])
	}
	stored := storedBits(len(raw), e.bw.nbits)

	switch {
	case stored <= dynamic && stored <= fixed:
		e.writeStored(raw, final)
	case fixed <= dynamic:
		e.bw.writeBits(boolBit(final)|1<<1, 3)
		// The fixed code has 288 literal/length symbols: the last two
		// are never used but shift the codes of the 9-bit symbols.
		canonicalCodes(fixedLit[:], h.litCode[:])
		canonicalCodes(fixedDist[:], h.dstCode[:])
		e.writeTokens(fixedLit[:], h.litCode[:], fixedDist[:], h.dstCode[:])
	default:
		bw := &e.bw
		bw.writeBits(boolBit(final)|2<<1, 3)
		bw.writeBits(uint64(nLit-257), 5)
		bw.writeBits(uint64(nDist-1), 5)
		bw.writeBits(uint64(nPre-4), 4)
		for _, s := range preOrder[:nPre] {
			bw.writeBits(uint64(h.pre[s]), 3)
		}
		canonicalCodes(h.pre[:], h.preCode[:])
		for i := 0; i < len(h.rle); i += 2 {
			s := h.rle[i]
			bw.writeBits(uint64(h.preCode[s]), uint(h.pre[s]))
			switch s {
			case 16:
				bw.writeBits(uint64(h.rle[i+1]), 2)
			case 17:
				bw.writeBits(uint64(h.rle[i+1]), 3)
			case 18:
				bw.writeBits(uint64(h.rle[i+1]), 7)
			}
		}
		canonicalCodes(h.litLen[:], h.litCode[:])
		canonicalCodes(h.dist[:], h.dstCode[:])
		e.writeTokens(h.litLen[:], h.litCode[:], h.dist[:], h.dstCode[:])
	}
	e.resetBlock()
}

// writeTokens writes the pending tokens and the end of block with the
// given code lengths and (bit-reversed) codes.
func (e *Encoder) writeTokens(litLen []uint8, litCode []uint16, distLen []uint8, distCodes []uint16) {
	bw := &e.bw
	for _, t := range e.tokens {
		if t&matchFlag == 0 {
			bw.writeBits(uint64(litCode[t]), uint(litLen[t]))
			continue
		}
		l := (t >> 15) & 0xff
		sym := lengthSym[l]
		code := sym - 257
		v := uint64(litCode[sym]) | uint64(l-uint32(lengthBase[code]-minMatch))<<litLen[sym]
		bw.writeBits(v, uint(litLen[sym])+uint(lengthExtra[code]))
		d := t & windowMask
		dc := distCode(d)
		v = uint64(distCodes[dc]) | uint64(d-uint32(distBase[dc]-1))<<distLen[dc]
		bw.writeBits(v, uint(distLen[dc])+uint(distExtra[dc]))
	}
	bw.writeBits(uint64(litCode[endBlock]), uint(litLen[endBlock]))
}

// storedBits is the size in bits of raw as stored blocks, starting at bit
// offset nbits within the current byte.
func storedBits(n int, nbits uint) uint64 {
	blocks := max(1, (n+maxStored-1)/maxStored)
	// The first header ends on a byte boundary after padding; the others
	// start on one.
	first := (nbits%8 + 3 + 7) / 8 * 8
	return uint64(first) - uint64(nbits%8) + uint64(blocks-1)*8 + uint64(blocks)*32 + uint64(n)*8
}

// writeStored writes raw as stored blocks of up to 65535 bytes.
func (e *Encoder) writeStored(raw []byte, final bool) {
	for {
		n := min(len(raw), maxStored)
		last := n == len(raw)
		e.bw.writeBits(boolBit(final && last), 3)
		e.bw.alignAndStore(raw[:n])
		raw = raw[n:]
		if last {
			return
		}
	}
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// atLeastTwo makes sure two symbols of freq are used, adding the first
// unused ones.
func atLeastTwo(freq []uint32) {
	used := 0
	for _, f := range freq {
		if f != 0 {
			used++
		}
	}
	for s := 0; used < 2; s++ {
		if freq[s] == 0 {
			freq[s] = 1
			used++
		}
	}
}

// lastNonZero returns the length of lens without its trailing zeros, but
// at least least.
func lastNonZero(lens []uint8, least int) int {
	n := len(lens)
	for n > least && lens[n-1] == 0 {
		n--
	}
	return n
}

// appendRLE appends the code-length symbols (each followed by its extra
// bits value) for the concatenation of a and b, counting them in freq.
func appendRLE(dst []uint8, a, b []uint8, freq *[numPre]uint32) []uint8 {
	n := len(a) + len(b)
	at := func(i int) uint8 {
		if i < len(a) {
			return a[i]
		}
		return b[i-len(a)]
	}
	for i := 0; i < n; {
		v := at(i)
		run := 1
		for i+run < n && at(i+run) == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				k := min(run, 138)
				dst = append(dst, 18, uint8(k-11))
				freq[18]++
				run -= k
			}
			if run >= 3 {
				dst = append(dst, 17, uint8(run-3))
				freq[17]++
				run = 0
			}
		} else {
			dst = append(dst, v, 0)
			freq[v]++
			run--
			for run >= 3 {
				k := min(run, 6)
				dst = append(dst, 16, uint8(k-3))
				freq[16]++
				run -= k
			}
		}
		for ; run > 0; run-- {
			dst = append(dst, v, 0)
			freq[v]++
		}
	}
	return dst
}

// buildLengths sets lens to the lengths of an optimal prefix code for freq
// limited to maxBits, 0 for unused symbols. A single used symbol gets
// length 1.
func buildLengths(freq []uint32, lens []uint8, maxBits int, h *huffmanScratch) {
	syms := h.syms[:0]
	for s, f := range freq {
		lens[s] = 0
		if f != 0 {
			syms = append(syms, symFreq{f, uint16(s)})
		}
	}
	h.syms = syms
	switch len(syms) {
	case 0:
		return
	case 1:
		lens[syms[0].sym] = 1
		return
	}
	slices.SortFunc(syms, func(a, b symFreq) int {
		if a.freq != b.freq {
			return int(a.freq) - int(b.freq)
		}
		return int(a.sym) - int(b.sym)
	})
	h.keys = minimumRedundancy(syms, h.keys[:0])
	depths := h.keys
	// Count codes per length, then limit the lengths (miniz's
	// enforce_max_code_size): fold longer codes into maxBits and take
	// leaves from shorter lengths until the Kraft sum is exactly 1.
	var count [64]int
	for _, d := range depths {
		count[min(int(d), len(count)-1)]++
	}
	for i := maxBits + 1; i < len(count); i++ {
		count[maxBits] += count[i]
	}
	var total uint32
	for i := maxBits; i > 0; i-- {
		total += uint32(count[i]) << (maxBits - i)
	}
	for total != 1<<maxBits {
		count[maxBits]--
		for i := maxBits - 1; i > 0; i-- {
			if count[i] != 0 {
				count[i]--
				count[i+1] += 2
				break
			}
		}
		total--
	}
	// The most frequent symbols (at the end) get the shortest codes.
	j := len(syms)
	for l := 1; l <= maxBits; l++ {
		for k := count[l]; k > 0; k-- {
			j--
			lens[syms[j].sym] = uint8(l)
		}
	}
}

// minimumRedundancy computes Huffman code lengths in place for symbols
// sorted by ascending frequency (Moffat and Katajainen's in-place
// algorithm, as in miniz). It appends the lengths, in the order of a, to k.
func minimumRedundancy(a []symFreq, k []uint32) []uint32 {
	n := len(a)
	for i := range a {
		k = append(k, a[i].freq)
	}
	k[0] += k[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || k[root] < k[leaf] {
			k[next] = k[root]
			k[root] = uint32(next)
			root++
		} else {
			k[next] = k[leaf]
			leaf++
		}
		if leaf >= n || (root < next && k[root] < k[leaf]) {
			k[next] += k[root]
			k[root] = uint32(next)
			root++
		} else {
			k[next] += k[leaf]
			leaf++
		}
	}
	k[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		k[next] = k[k[next]] + 1
	}
	avail, used, depth := 1, 0, uint32(0)
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && k[root] == depth {
			used++
			root--
		}
		for avail > used {
			k[next] = depth
			next--
			avail--
		}
		avail = 2 * used
		depth++
		used = 0
	}
	return k
}

// canonicalCodes assigns the canonical code of each length (RFC 1951
// section 3.2.2), bit-reversed because deflate sends codes from their most
// significant bit but the bit writer fills bytes from the least.
func canonicalCodes(lens []uint8, codes []uint16) {
	var count [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeBits + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l != 0 {
			codes[s] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
}

// bitWriter packs bits least significant first, as deflate wants.
type bitWriter struct {
	out   []byte
	bits  uint64
	nbits uint
}

// writeBits writes the low n bits of v; n is at most 32.
func (w *bitWriter) writeBits(v uint64, n uint) {
	w.bits |= v << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.bits))
		w.bits >>= 32
		w.nbits -= 32
	}
}

// alignAndStore pads to a byte boundary and writes a stored block's length,
// its complement and p.
func (w *bitWriter) alignAndStore(p []byte) {
	w.flush()
	w.out = binary.LittleEndian.AppendUint16(w.out, uint16(len(p)))
	w.out = binary.LittleEndian.AppendUint16(w.out, ^uint16(len(p)))
	w.out = append(w.out, p...)
}

// flush writes the pending bits, padding the last byte with zeros.
func (w *bitWriter) flush() {
	for w.nbits > 0 {
		w.out = append(w.out, byte(w.bits))
		w.bits >>= 8
		w.nbits = w.nbits - min(w.nbits, 8)
	}
	w.bits = 0
}
