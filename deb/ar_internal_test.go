package deb

import (
	"bytes"
	"testing"
	"testing/iotest"
	"time"

	"github.com/blakesmith/ar"
)

// A member body arriving in odd-sized chunks is written byte-exact, with a
// single pad byte at its end when its size is odd.
func TestWriteMemberOddChunks(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 7, 8, 1001, copyBuffer + 3} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i*7 + 1)
		}
		var out bytes.Buffer
		aw := ar.NewWriter(&out)
		// OneByteReader makes every Write one byte long: the worst case
		// for blakesmith/ar's padding.
		if err := writeMember(aw, "m", int64(size), iotest.OneByteReader(bytes.NewReader(body)), time.Unix(0, 0)); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got := out.Bytes()
		if len(got) != 60+size+size%2 {
			t.Fatalf("size %d: wrote %d bytes, want %d", size, len(got), 60+size+size%2)
		}
		if !bytes.Equal(got[60:60+size], body) {
			t.Fatalf("size %d: body corrupted", size)
		}
		if size%2 == 1 && got[len(got)-1] != '\n' {
			t.Fatalf("size %d: pad byte %q", size, got[len(got)-1])
		}
	}
}

func TestWriteMemberShortBody(t *testing.T) {
	aw := ar.NewWriter(&bytes.Buffer{})
	if err := writeMember(aw, "m", 10, bytes.NewReader([]byte("abc")), time.Unix(0, 0)); err == nil {
		t.Fatal("a body shorter than the header's size was accepted")
	}
}
