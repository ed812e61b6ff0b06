package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/agent/lifecycle"
)

// startLifecycle reads what --lifecycle-hook's action needs from instance
// metadata and builds its client, before anything is installed; nil
// without --lifecycle-hook.
func startLifecycle(ctx context.Context, cfg *config, log *slog.Logger) (*lifecycle.Hook, error) {
	if cfg.Lifecycle.Hook == "" {
		return nil, nil
	}
	h, err := lifecycle.New(ctx, lifecycle.Options{Action: cfg.Lifecycle, Region: cfg.LifecycleRegion, AllowInsecureEndpoint: cfg.Insecure, Logger: log})
	switch {
	case errors.Is(err, lifecycle.ErrNoGroupTag):
		return nil, fmt.Errorf("--lifecycle-hook: %w\n(pass --lifecycle-group NAME, or enable instance metadata tags in the launch template: MetadataOptions InstanceMetadataTags=enabled)", err)
	case err != nil:
		return nil, fmt.Errorf("--lifecycle-hook: %w\n(on an instance, the instance metadata service must answer IMDSv2; elsewhere pass --lifecycle-group, --lifecycle-instance-id and --lifecycle-region)", err)
	}
	return h, nil
}

// completeLifecycle completes h's action after the --once run of a, which
// returned runErr (a is nil when the agent could not be made). It returns
// nil only after CONTINUE, so that the exit status says whether this
// server goes into service.
func completeLifecycle(ctx context.Context, h *lifecycle.Hook, a *agent.Agent, runErr error, log *slog.Logger) error {
	run := lifecycle.Run{Err: runErr}
	if a != nil {
		st := a.Status()
		run.State, run.Version = st.State, st.Version
	}
	result, reason := lifecycle.Decide(run)
	log.Info("lifecycle action decided", "result", string(result), "reason", reason)
	// Completed even when the run was interrupted (a shutdown), on a
	// context of its own that Complete bounds: the group then replaces
	// the instance at once rather than at the hook's timeout.
	if err := h.Complete(context.WithoutCancel(ctx), result); err != nil {
		return errors.Join(runErr, err)
	}
	switch {
	case result == lifecycle.Continue:
		return runErr
	case runErr == nil:
		return fmt.Errorf("lifecycle action abandoned, the group replaces this instance: %s", reason)
	}
	return fmt.Errorf("%w\n(lifecycle action abandoned, the group replaces this instance)", runErr)
}
