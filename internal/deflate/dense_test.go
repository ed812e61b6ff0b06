package deflate

import (
	"bytes"
	"testing"
)

func TestLooksDense(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"random", randomBytes(denseSegment, 21), true},
		{"zlib-compressed text, as the linker writes DWARF", zlibBytes(t, textBytes(200_000, 22))[:denseSegment], true},
		{"random, shortest judged", randomBytes(minDense, 23), true},
		{"random, too short to judge", randomBytes(minDense-1, 24), false},
		{"go binary", goBinary(t, denseSegment), false},
		{"text", textBytes(denseSegment, 25), false},
		{"zeros", make([]byte, denseSegment), false},
	} {
		if got := looksDense(tt.in); got != tt.want {
			t.Errorf("%s: looksDense %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A segment that looks incompressible is coded as literals without a
// search: a repeat inside it is not looked for, so it costs as much as
// fresh random bytes, where a search would have saved its 8 KiB. The code
// around it is still searched (its chunk compresses).
func TestDenseSegmentNotSearched(t *testing.T) {
	code := goBinary(t, 2*denseSegment)
	r := randomBytes(denseSegment/2, 26)
	repeat := bytes.Join([][]byte{code, r, r, code}, nil)
	fresh := bytes.Join([][]byte{code, r, randomBytes(denseSegment/2, 27), code}, nil)
	e := NewEncoder(Effort{})
	a := len(e.Encode(nil, repeat, 0, true))
	b := len(e.Encode(nil, fresh, 0, true))
	if d := b - a; d > 1024 || d < -1024 {
		t.Errorf("%d bytes with a repeat inside the dense segment, %d without: want within 1 KiB (the segment not searched)", a, b)
	}
	if a > len(repeat)-len(code) {
		t.Errorf("%d bytes of %d: the code around the dense segment was not compressed", a, len(repeat))
	}
}
