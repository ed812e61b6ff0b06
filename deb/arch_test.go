package deb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// TestArchNeedsGOARM: bare arm is a sentinel the caller can map to its own
// advice, and the message names no command-line flag: a pkgdeb.yaml user
// sets goarm:, a library user a field of their own.
func TestArchNeedsGOARM(t *testing.T) {
	_, err := deb.Arch("arm", "")
	if !errors.Is(err, deb.ErrNeedGOARM) {
		t.Fatalf("Arch(arm, \"\"): %v, want ErrNeedGOARM", err)
	}
	if strings.Contains(err.Error(), "--") {
		t.Errorf("Arch(arm, \"\"): %q prescribes a flag", err)
	}
}
