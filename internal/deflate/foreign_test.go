package deflate_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os/exec"
	"testing"

	"github.com/debfleet/debfleet/internal/deflate"
	"github.com/debfleet/debfleet/internal/testenv"
)

// zlib and gzip's own decoder accept the output: dpkg-deb decompresses
// with zlib, which is stricter than Go's decoder about Huffman codes.
func TestForeignDecoders(t *testing.T) {
	gz := testenv.LookTool(t, "gzip")
	py := testenv.LookTool(t, "python3")
	in := bytes.Join([][]byte{deflate.GoBinary(t, 300_000), deflate.TextBytes(200_000, 12), deflate.RandomBytes(100_000, 13), []byte("abc")}, nil)
	for _, chunk := range []int{0, 100_000} {
		raw := deflate.EncodeChunks(deflate.NewEncoder(deflate.Effort{}), in, chunk)

		member := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, raw...)
		member = binary.LittleEndian.AppendUint32(member, crc32.ChecksumIEEE(in))
		member = binary.LittleEndian.AppendUint32(member, uint32(len(in)))
		cmd := exec.Command(gz, "-dc")
		cmd.Stdin = bytes.NewReader(member)
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("chunk %d: gzip -dc: %v, %d bytes back of %d", chunk, err, len(got), len(in))
		}

		cmd = exec.Command(py, "-c", "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read(), -15))")
		cmd.Stdin = bytes.NewReader(raw)
		got, err = cmd.Output()
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("chunk %d: zlib: %v, %d bytes back of %d", chunk, err, len(got), len(in))
		}
	}
}
