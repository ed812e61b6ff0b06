package testenv

import (
	"testing"

	"github.com/debfleet/debfleet/internal/realparts"
)

// AgentDeb describes a small package for the agent's tests (see
// realparts.AgentDeb).
type AgentDeb = realparts.AgentDeb

// BuildAgentDeb builds the package described by p into a temporary
// directory and returns its path; a failure fails t.
func BuildAgentDeb(t testing.TB, p AgentDeb) string {
	t.Helper()
	path, err := realparts.BuildAgentDeb(t.Context(), t.TempDir(), p)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
