// Package lifecycle completes an EC2 Auto Scaling launch lifecycle action
// after `autoupdate --once`, so that a new server of an Auto Scaling group
// enters service only once it runs the release the fleet is meant to run.
//
// An Auto Scaling group with a launch lifecycle hook keeps each new
// instance in Pending:Wait until someone completes the lifecycle action
// (or the hook's heartbeat timeout passes, and the hook's DefaultResult
// applies). The instance completes it itself, at the end of its first
// boot:
//
//	hook, err := lifecycle.New(ctx, lifecycle.Options{Action: lifecycle.Action{Hook: "debfleet-launch"}})
//	// ... autoupdate --once ...
//	result, reason := lifecycle.Decide(lifecycle.Run{Err: err, State: st.State, Version: st.Version})
//	err = hook.Complete(ctx, result)
//
// New learns what the flags left out from the instance metadata service,
// IMDSv2 only (a session token from a PUT, never IMDSv1's plain GET): the
// instance ID, the group name from the instance's tag
// aws:autoscaling:groupName (readable only when the launch template
// enables instance metadata tags: otherwise ErrNoGroupTag), and the
// instance's region, the group's. Complete sends one
// CompleteLifecycleAction, SigV4-signed with the SDK's default credential
// chain (the instance role).
//
// Decide is the rule, a pure function of how the run ended (see its
// table): CONTINUE when the host runs what the fleet is meant to run on
// it now, ABANDON otherwise. Every wait is bounded: each metadata read
// (5 s, 3 attempts, at most 1 KiB read) and the API call (3 attempts,
// 30 s in all).
package lifecycle
