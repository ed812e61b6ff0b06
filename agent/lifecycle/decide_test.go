package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/fleet"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		run    Run
		want   Result
		reason string // a part of the reason
	}{
		{"installed and healthy", Run{State: fleet.StateOK, Version: "1.2"}, Continue, "release 1.2 is installed and healthy"},
		{"already installed", Run{State: fleet.StateOK, Version: "1.2"}, Continue, "1.2"},
		{"wave does not cover it yet, a release installed", Run{State: fleet.StateWaiting, Version: "1.1"}, Continue, "serving release 1.1"},
		{"halted, a release installed", Run{State: fleet.StateHalted, Version: "1.1"}, Continue, "halted here for now"},
		{"wave does not cover a new host", Run{State: fleet.StateWaiting}, Abandon, "nothing to serve"},
		{"halted on a new host", Run{State: fleet.StateHalted}, Abandon, "nothing to serve"},
		{"nothing installed, channel settled", Run{State: fleet.StateNone}, Abandon, "no release is installed (state none)"},
		{"failed", Run{Err: errors.New("release failed: health check: 503"), State: fleet.StateFailed}, Abandon, "health check: 503"},
		{"rolled back", Run{Err: errors.New("release rolled-back: dpkg: exit 1"), State: fleet.StateRolledBack, Version: "1.1"}, Abandon, "rolled-back"},
		{"refused", Run{Err: errors.New("release refused: not signed"), State: fleet.StateRefused}, Abandon, "not signed"},
		{"channel unreachable", Run{Err: errors.New("head s3://b/k: unreachable"), State: fleet.StateNone}, Abandon, "unreachable"},
		{"interrupted", Run{Err: fmt.Errorf("download: %w", context.Canceled), State: fleet.StateInstalling, Version: "1.1"}, Abandon, "interrupted"},
		{"timed out", Run{Err: fmt.Errorf("install: %w", context.DeadlineExceeded), State: fleet.StateInstalling}, Abandon, "timed out"},
		{"error with state ok", Run{Err: errors.New("save state: disk full"), State: fleet.StateOK, Version: "1.2"}, Abandon, "disk full"},
		{"unknown state", Run{State: "something-new", Version: "1.2"}, Abandon, "state something-new"},
		{"installing without error", Run{State: fleet.StateInstalling, Version: "1.2"}, Abandon, "state installing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Decide(tt.run)
			if got != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("Decide(%+v) = %s, %q; want %s and a reason with %q", tt.run, got, reason, tt.want, tt.reason)
			}
		})
	}
}
