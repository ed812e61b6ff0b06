package deflate

import (
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
