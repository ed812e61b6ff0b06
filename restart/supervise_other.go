//go:build !linux

package restart

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// supervise needs a child subreaper (prctl PR_SET_CHILD_SUBREAPER), which
// only Linux has.
func supervise(context.Context, SuperviseOptions, string) (int, error) {
	return 1, fmt.Errorf("supervise: stable-PID supervision on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
