package fleet

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/debfleet/debfleet/release"
)

// ErrSignedPolicy is the error kind of a rollback that would change the
// rollout policy of a signed release without a key to re-sign it.
var ErrSignedPolicy = errors.New("the rollout policy of a signed release cannot change without re-signing it")

// ErrNoWindow is the error kind of a rollback asked to respect the
// maintenance windows of a release that has none.
var ErrNoWindow = errors.New("no maintenance window to respect")

// RollbackPolicy is the rollout policy a rollback gives the release it
// restores; its Edit method is a release.RollbackInput.Edit.
type RollbackPolicy struct {
	// Rollout is the restored release's policy; nil means DefaultPolicy:
	// a rollback goes to the whole fleet at once, since it restores a
	// release known to be good, when speed matters. A staged policy also
	// gives the restored manifest a fresh PublishedAt, from which its
	// waves count.
	Rollout *Policy
	// Keep restores the release with the policy it was published with,
	// as it is; Rollout must then be nil.
	Keep bool
	// RespectWindow holds the rollback to maintenance windows: those of
	// Rollout when it has any, else those the restored release was
	// published with (an error when it has none). Without it a
	// rollback's policy has no window: it restores a release known to
	// be good, when speed matters.
	RespectWindow bool
	// Resign says that the rollback re-signs the manifest (the
	// RollbackInput has a Key): only then may a signed release's policy
	// change.
	Resign bool
	// Now stamps a fresh PublishedAt; nil means time.Now.
	Now func() time.Time
}

// Edit gives m, the manifest a rollback restores, the policy rp says.
// Changing a signed manifest's policy without Resign is refused with an
// error of kind ErrSignedPolicy.
func (rp RollbackPolicy) Edit(m *release.Manifest) error {
	if rp.Keep {
		if rp.Rollout != nil {
			return errors.New("a rollout policy and keeping the old one exclude each other")
		}
		return nil
	}
	old, err := PolicyOf(m)
	if err != nil {
		return err
	}
	policy := DefaultPolicy()
	if rp.Rollout != nil {
		policy = *rp.Rollout
	}
	if rp.RespectWindow && len(policy.Windows) == 0 {
		if len(old.Windows) == 0 {
			return fmt.Errorf("%w: %s %s was published without a maintenance window (a rollback's copy of a release carries none unless it respected them)", ErrNoWindow, m.Package, m.Version)
		}
		policy.Windows = old.Windows
	}
	before := maps.Clone(m.Extra)
	if err := policy.Apply(m); err != nil {
		return err
	}
	if maps.Equal(before, m.Extra) || (len(before) == 0 && len(m.Extra) == 0) {
		return nil
	}
	if m.Signed() && !rp.Resign {
		return &release.Error{Kind: ErrSignedPolicy, Detail: fmt.Sprintf("%s %s is signed with %s; a rollback gives it %s, which needs re-signing (a key), or keep its policy as signed (its waves count from its publish time, %s)",
			m.Package, m.Version, old, policy, m.PublishedAt.Format(time.RFC3339))}
	}
	if policy.Staged() {
		// Waves count from PublishedAt: an old one would have them over.
		now := time.Now
		if rp.Now != nil {
			now = rp.Now
		}
		m.PublishedAt = now().UTC().Truncate(time.Second)
	}
	return nil
}
