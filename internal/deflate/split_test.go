package deflate

import "testing"

// A block ends soon after the data changes kind, and not while it stays
// the same.
func TestSplitStats(t *testing.T) {
	for _, tt := range []struct {
		name   string
		first  byte
		second byte
		want   bool // a split after the change
	}{
		{"same kind", 'a', 'a', false},
		{"text then zeros", 'a', 0, true},
		{"text then high bytes", 'a', 0xf0, true},
	} {
		var s splitStats
		n := 0
		for ; n < 20_000; n++ {
			s.literal(tt.first)
			if s.shouldEnd(n+1, 1<<20) {
				t.Fatalf("%s: split at %d, before the change", tt.name, n)
			}
		}
		split := -1
		for i := 0; i < 20_000 && split < 0; i++ {
			s.literal(tt.second)
			n++
			if s.shouldEnd(n, 1<<20) {
				split = i
			}
		}
		switch {
		case tt.want && (split < 0 || split > 2*obsPerCheck):
			t.Errorf("%s: split %d literals after the change, want within %d", tt.name, split, 2*obsPerCheck)
		case !tt.want && split >= 0:
			t.Errorf("%s: split after %d literals of the same kind", tt.name, split)
		}
	}
}

// No block is shorter than minBlockLen, nor leaves less than that after it,
// however much the data changes.
func TestSplitStatsMinimum(t *testing.T) {
	var s splitStats
	for n := 1; n < minBlockLen; n++ {
		c := byte('a')
		if n > minBlockLen/3 {
			c = 0
		}
		s.literal(c)
		if s.shouldEnd(n, 1<<20) {
			t.Fatalf("split after %d bytes", n)
		}
	}
	s = splitStats{}
	for n := 1; n < 40_000; n++ {
		c, left := byte('a'), 1<<20
		if n > 20_000 {
			c, left = 0, minBlockLen-1
		}
		s.literal(c)
		if s.shouldEnd(n, left) {
			t.Fatalf("split at %d with %d bytes left", n, left)
		}
	}
}
