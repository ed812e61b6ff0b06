package testbytes

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Random returns n pseudo-random bytes from seed: incompressible.
func Random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Text returns n bytes of Go-like words and numbers from seed: many short
// matches, so a match finder has work to do.
func Text(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 9))
	words := strings.Fields("func return if err != nil { } ctx context.Context string int64 byte := range for package import fmt.Errorf %w writer reader close")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(9) == 0 {
			b.WriteString(strconv.Itoa(r.IntN(100000)))
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}
