package deflate

import "encoding/binary"

// writeBlock writes the pending tokens, which encode raw, as the cheapest
// of a dynamic Huffman, a fixed Huffman or stored blocks, and starts a new
// block.
func (e *Encoder) writeBlock(raw []byte, final bool) {
	nLit, nDist, nPre := e.buildCodes()
	dynamic, fixed := e.codedBits(nPre)
	stored := storedBits(len(raw), e.bw.nbits)
	switch {
	case stored <= dynamic && stored <= fixed:
		e.writeStored(raw, final)
	case fixed <= dynamic:
		e.writeFixed(final)
	default:
		e.writeDynamic(final, nLit, nDist, nPre)
	}
	e.resetBlock()
}

// buildCodes builds the block's dynamic codes in e.huf: the literal/length
// and distance code lengths, their run-length encoding and the code-length
// code. It returns how many literal/length, distance and code-length code
// lengths the block header sends.
func (e *Encoder) buildCodes() (nLit, nDist, nPre int) {
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

	nLit = lastNonZero(h.litLen[:], 257)
	nDist = lastNonZero(h.dist[:], 1)
	// Run-length encode both code length lists as one sequence.
	h.rle = h.rle[:0]
	h.preFreq = [numPre]uint32{}
	h.rle = appendRLE(h.rle, h.litLen[:nLit], h.dist[:nDist], &h.preFreq)
	atLeastTwo(h.preFreq[:])
	buildLengths(h.preFreq[:], h.pre[:], maxPreBits, h)
	nPre = numPre
	for nPre > 4 && h.pre[preOrder[nPre-1]] == 0 {
		nPre--
	}
	return nLit, nDist, nPre
}

// codedBits returns the size in bits of the block with the dynamic codes
// buildCodes built, header included, and with the fixed codes.
func (e *Encoder) codedBits(nPre int) (dynamic, fixed uint64) {
	h := &e.huf
	// Extra bits cost the same in dynamic and fixed blocks.
	var extra uint64
	for code, f := range e.litFreq[257:] {
		extra += uint64(f) * uint64(lengthExtra[code])
	}
	for code, f := range e.distFreq {
		extra += uint64(f) * uint64(distExtra[code])
	}
	dynamic = 3 + 5 + 5 + 4 + 3*uint64(nPre) + extra
	for s, f := range h.preFreq {
		dynamic += uint64(f) * uint64(h.pre[s])
	}
	dynamic += 2*uint64(h.preFreq[16]) + 3*uint64(h.preFreq[17]) + 7*uint64(h.preFreq[18])
	fixed = 3 + extra
	for s, f := range e.litFreq {
		dynamic += uint64(f) * uint64(h.litLen[s])
		fixed += uint64(f) * uint64(fixedLit[s])
	}
	for s, f := range e.distFreq {
		dynamic += uint64(f) * uint64(h.dist[s])
		fixed += uint64(f) * uint64(fixedDist[s])
	}
	return dynamic, fixed
}

// writeFixed writes the block with the fixed Huffman codes.
func (e *Encoder) writeFixed(final bool) {
	h := &e.huf
	e.bw.writeBits(boolBit(final)|1<<1, 3)
	// The fixed code has 288 literal/length symbols: the last two
	// are never used but shift the codes of the 9-bit symbols.
	canonicalCodes(fixedLit[:], h.litCode[:])
	canonicalCodes(fixedDist[:], h.dstCode[:])
	e.writeTokens(fixedLit[:], h.litCode[:], fixedDist[:], h.dstCode[:])
}

// writeDynamic writes the block with the codes buildCodes built: the
// header that describes them, then the tokens.
func (e *Encoder) writeDynamic(final bool, nLit, nDist, nPre int) {
	h := &e.huf
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
