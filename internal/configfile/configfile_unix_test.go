//go:build unix

package configfile

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFIFO: a FIFO is refused at once, not opened (which would wait
// for a writer).
func TestReadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO: %v", err)
	}
}
