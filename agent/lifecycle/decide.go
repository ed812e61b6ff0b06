package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/debfleet/debfleet/fleet"
)

// Result is a lifecycle action's result, as CompleteLifecycleAction takes
// it.
type Result string

// The two results of a launch lifecycle action.
const (
	// Continue puts the instance in service.
	Continue Result = "CONTINUE"
	// Abandon terminates the instance; the group launches another.
	Abandon Result = "ABANDON"
)

// Run is how an `autoupdate --once` run ended: what agent.Agent.Once
// returned and the host's status afterwards.
type Run struct {
	// Err is what the run returned: nil when the check succeeded and
	// nothing failed (the release installed, already installed, or
	// left for later by its rollout policy).
	Err error
	// State is the host's status state after the run (fleet.StateOK,
	// fleet.StateWaiting, ...).
	State string
	// Version is the version installed on the host after the run, ""
	// when it has none.
	Version string
}

// Decide says how to complete the launch lifecycle action after run, and
// why, in one line. The rule: CONTINUE when the host runs what the fleet
// is meant to run on it now; ABANDON otherwise, so that the group replaces
// the instance rather than put it in service on the wrong code or none.
//
//	run ended with                                   result
//	the release installed and healthy, or already    CONTINUE
//	  installed (state ok)
//	release left for later by its rollout policy     CONTINUE on the release it has
//	  (waiting: its wave does not cover this host
//	  yet, or no update slot; halted), a release
//	  installed
//	the same with no release installed               ABANDON: it has nothing to serve
//	failed (no release to go back to)                ABANDON
//	rolled back (the release failed here)            ABANDON, though the previous release
//	                                                   runs: a new server must run the
//	                                                   channel's release, and this one
//	                                                   failed on it
//	refused (signature, replay, package, ...)        ABANDON: a person must look
//	the channel unreachable, forbidden, a download   ABANDON
//	  cut short, the agent could not start
//	interrupted or timed out                         ABANDON
//	anything else                                    ABANDON
//
// A release this host failed before is not retried (an image baked with
// the agent's state directory): the run then ends in state ok on the
// release installed, and CONTINUEs on it.
func Decide(run Run) (Result, string) {
	switch {
	case errors.Is(run.Err, context.Canceled):
		return Abandon, "the run was interrupted before it finished"
	case errors.Is(run.Err, context.DeadlineExceeded):
		return Abandon, fmt.Sprintf("the run timed out: %v", run.Err)
	case run.Err != nil:
		return Abandon, run.Err.Error()
	case run.Version == "":
		return Abandon, fmt.Sprintf("no release is installed (state %s): this server has nothing to serve", orNone(run.State))
	}
	switch run.State {
	case fleet.StateOK:
		return Continue, "release " + run.Version + " is installed and healthy"
	case fleet.StateWaiting, fleet.StateHalted:
		return Continue, fmt.Sprintf("the channel's release is %s here for now; serving release %s, as the fleet's hosts not yet updated do", run.State, run.Version)
	}
	return Abandon, fmt.Sprintf("the run ended in state %s on release %s", orNone(run.State), run.Version)
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
