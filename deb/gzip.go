package deb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/debfleet/debfleet/internal/deflate"
)

const (
	// gzipBlockSize is the unit of parallel work. It is fixed (not derived
	// from the number of cores) because block boundaries shape the output:
	// the same input must give the same bytes on any machine. 1 MiB keeps
	// the cost of per-block flushes and of restarting the match finder
	// (each block sees only the previous 32 KiB) under 0.1 %.
	gzipBlockSize = 1 << 20
	// gzipWindow is deflate's window: the tail of the previous block that
	// primes the next one, so matches across the boundary are not lost.
	gzipWindow = 32 << 10
	// maxGzipBlocks caps blocks in flight whatever the number of cores;
	// each holds ~1 MiB of input, ~1 MiB of output and an encoder (~1 MiB
	// at levels 7-9), so the writer stays under ~30 MB.
	maxGzipBlocks = 8

	// denseLevel compresses blocks that look incompressible: klauspost's
	// levels 1-6 skip ahead quickly through data without matches, where
	// levels 7-9 would search every position for nothing (~10x slower on
	// random data, for the same stored output).
	denseLevel = 6
	// ownLevel stands for our own encoder (internal/deflate), which
	// compresses every other block: unlike klauspost's levels it finds
	// 3-byte matches. On the benchmark payload's Go binaries and text it
	// is 0.9 % larger than gzip -9, where klauspost's level 6 is 4.6 %
	// larger and level 8 2 %, and it takes ~30 % less CPU than level 8.
	ownLevel = 10
)

// gzipOS is the header's OS field: 3 (Unix), as gzip -n writes it. The
// mtime field stays 0 and no name is written.
const gzipOS = 3

// errGzipClosed is returned by writes after Close.
var errGzipClosed = errors.New("gzip: write after close")

// gzipWriter is a parallel gzip writer producing one gzip member whose
// deflate stream is cut into fixed-size blocks compressed concurrently.
// Each block is primed with the previous block's last 32 KiB and ends with
// a sync flush, except the last which ends the stream. The output depends
// only on the input and the level: never on GOMAXPROCS or timing.
//
// It is not safe for concurrent use: one goroutine writes and closes it.
type gzipWriter struct {
	w     io.Writer
	level int // 1-9 for every block, or 0 to choose per block
	slots int // blocks in flight

	cur     *gzipBlock   // being filled
	pending []*gzipBlock // dispatched, oldest first
	free    []*gzipBlock // written out, ready for reuse

	// encoders holds idle encoders by level. A plain list rather than a
	// sync.Pool: the GC would drop pooled encoders between blocks, and
	// each one costs ~1 MiB to allocate and clear. It never holds more
	// than slots encoders in all.
	encMu    sync.Mutex
	encoders [ownLevel + 1][]any // *flate.Writer, or *deflate.Encoder at ownLevel
	encCount int                 // idle and busy

	crc     uint32
	size    uint32 // input length mod 2^32, as the trailer wants
	started bool   // header written
	closed  bool
	err     error // first error writing to w
}

// gzipBlock is one unit of work: its input (preceded by the dictionary)
// and, once done is signalled, its compressed output.
type gzipBlock struct {
	buf  []byte // dictionary followed by the block's input
	dict int    // length of the dictionary at the start of buf
	last bool
	out  []byte
	err  error
	done chan struct{}
}

// data returns the block's own input.
func (b *gzipBlock) data() []byte { return b.buf[b.dict:] }

// Write appends compressed output to b.out; it is the encoder's sink.
func (b *gzipBlock) Write(p []byte) (int, error) {
	b.out = append(b.out, p...)
	return len(p), nil
}

// newGzipWriter returns a writer compressing into w. level is 1 to 9 to
// use that deflate level for every block, or 0 to choose per block:
// denseLevel for blocks that look incompressible, our own encoder otherwise.
func newGzipWriter(w io.Writer, level int) (*gzipWriter, error) {
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("gzip level %d: want 1 to 9, or 0 for the default", level)
	}
	// Two blocks per core: while a slow block holds up the ordered
	// output, the other cores keep compressing the next ones. The cap
	// bounds memory on big machines.
	slots := min(max(runtime.GOMAXPROCS(0), 1)*2, maxGzipBlocks)
	return &gzipWriter{w: w, level: level, slots: slots}, nil
}

// Write buffers p into blocks and dispatches every full block.
func (z *gzipWriter) Write(p []byte) (int, error) {
	if z.closed {
		return 0, errGzipClosed
	}
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	for len(p) > 0 {
		if z.cur == nil {
			z.cur = z.block(nil)
		}
		b := z.cur
		k := min(len(p), b.dict+gzipBlockSize-len(b.buf))
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
		if len(b.buf) == b.dict+gzipBlockSize {
			if err := z.dispatch(false); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// Close compresses what is buffered, waits for every block, writes them
// and the trailer. It does not close the underlying writer. After an
// error it still waits for the blocks in flight, so no goroutine outlives
// it.
func (z *gzipWriter) Close() error {
	if z.closed {
		return z.err
	}
	if z.cur == nil {
		z.cur = z.block(nil)
	}
	if z.err == nil {
		z.dispatch(true) // records an error in z.err
	}
	z.closed = true
	for len(z.pending) > 0 {
		z.writeOldest() // records the first error in z.err
	}
	if z.err != nil {
		return z.err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	if _, err := z.w.Write(trailer[:]); err != nil {
		z.err = fmt.Errorf("gzip trailer: %w", err)
	}
	return z.err
}

// block returns an empty block, reused when one is free, primed with the
// last gzipWindow bytes of prev's input when prev is not nil.
func (z *gzipWriter) block(prev *gzipBlock) *gzipBlock {
	var b *gzipBlock
	if n := len(z.free); n > 0 {
		b, z.free = z.free[n-1], z.free[:n-1]
		b.buf, b.out, b.err, b.last = b.buf[:0], b.out[:0], nil, false
	} else {
		b = &gzipBlock{buf: make([]byte, 0, gzipWindow+gzipBlockSize), done: make(chan struct{}, 1)}
	}
	if prev != nil {
		d := prev.data()
		b.buf = append(b.buf, d[max(0, len(d)-gzipWindow):]...)
	}
	b.dict = len(b.buf)
	return b
}

// dispatch starts compressing the current block and makes the next one
// current, first writing out the oldest block if every slot is taken.
func (z *gzipWriter) dispatch(last bool) error {
	if len(z.pending) == z.slots {
		if err := z.writeOldest(); err != nil {
			return err
		}
	}
	b := z.cur
	b.last = last
	d := b.data()
	z.crc = crc32.Update(z.crc, crc32.IEEETable, d)
	z.size += uint32(len(d))
	z.pending = append(z.pending, b)
	go z.compress(b)
	z.cur = nil
	if !last {
		z.cur = z.block(b)
	}
	return nil
}

// writeOldest waits for the oldest block in flight and writes its output
// (after the header, for the first one), then recycles it.
func (z *gzipWriter) writeOldest() error {
	b := z.pending[0]
	<-b.done
	z.pending = z.pending[1:]
	z.free = append(z.free, b)
	if z.err != nil {
		return z.err
	}
	if b.err != nil {
		z.err = fmt.Errorf("gzip: %w", b.err)
		return z.err
	}
	if !z.started {
		z.started = true
		if _, err := z.w.Write(z.header()); err != nil {
			z.err = fmt.Errorf("gzip header: %w", err)
			return z.err
		}
	}
	if _, err := z.w.Write(b.out); err != nil {
		z.err = fmt.Errorf("gzip: %w", err)
	}
	return z.err
}

// header is the 10-byte gzip header as gzip -n writes it: no mtime, no
// name, XFL telling decoders about levels 1 and 9 as RFC 1952 says.
func (z *gzipWriter) header() []byte {
	h := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, gzipOS}
	switch z.level {
	case 9:
		h[8] = 2
	case 1:
		h[8] = 4
	}
	return h
}

// compress deflates one block. It runs on its own goroutine and signals
// b.done when b.out (or b.err) is ready.
func (z *gzipWriter) compress(b *gzipBlock) {
	defer func() { b.done <- struct{}{} }()
	level := z.level
	if level == 0 {
		level = blockLevel(b.data())
	}
	if level == ownLevel {
		enc := z.ownEncoder()
		b.out = enc.Encode(b.out[:0], b.buf, b.dict, b.last)
		z.release(level, enc)
		return
	}
	enc, err := z.encoder(level)
	if err != nil {
		b.err = err
		return
	}
	defer z.release(level, enc)
	enc.ResetDict(b, b.buf[:b.dict])
	if _, err := enc.Write(b.data()); err != nil {
		b.err = err
		return
	}
	if b.last {
		b.err = enc.Close()
	} else {
		b.err = enc.Flush()
	}
}

// encoder returns an idle klauspost encoder for level, or a new one.
func (z *gzipWriter) encoder(level int) (*flate.Writer, error) {
	if enc := z.idle(level); enc != nil {
		return enc.(*flate.Writer), nil
	}
	return flate.NewWriter(io.Discard, level)
}

// ownEncoder returns an idle encoder of our own, or a new one.
func (z *gzipWriter) ownEncoder() *deflate.Encoder {
	if enc := z.idle(ownLevel); enc != nil {
		return enc.(*deflate.Encoder)
	}
	return deflate.NewEncoder(deflate.Effort{})
}

// idle takes an idle encoder for level from the pool, or returns nil after
// making room for a new one: at most one encoder per block in flight, so an
// idle one of another level is dropped when every slot has one.
func (z *gzipWriter) idle(level int) any {
	z.encMu.Lock()
	defer z.encMu.Unlock()
	if n := len(z.encoders[level]); n > 0 {
		enc := z.encoders[level][n-1]
		z.encoders[level] = z.encoders[level][:n-1]
		return enc
	}
	if z.encCount == z.slots {
		for l := range z.encoders {
			if n := len(z.encoders[l]); n > 0 {
				z.encoders[l] = z.encoders[l][:n-1]
				z.encCount--
				break
			}
		}
	}
	z.encCount++
	return nil
}

// release makes enc idle again.
func (z *gzipWriter) release(level int, enc any) {
	z.encMu.Lock()
	z.encoders[level] = append(z.encoders[level], enc)
	z.encMu.Unlock()
}

// blockLevel chooses the deflate level of a block from its content alone:
// denseLevel when its byte values are spread nearly evenly (deflate.Dense,
// sampling a quarter of the block: on the benchmark payload of random data,
// Go binaries, source and small text files, the same verdict for every
// block as counting every byte), ownLevel otherwise.
func blockLevel(p []byte) int {
	if deflate.Dense(p) {
		return denseLevel
	}
	return ownLevel
}
