package fleet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/release"
)

// maxHaltAttempts bounds the read-modify-conditional-write loop on a halt
// record when other writers keep winning.
const maxHaltAttempts = 8

// rolloutPrefix is where the records of one release's rollout live:
// "<key>.rollout/<sha256>/".
func rolloutPrefix(channel release.Address, sha string) string {
	return channel.Key + ".rollout/" + sha + "/"
}

// FailureAddress is where host records that it failed the release with
// SHA-256 sha: "<key>.rollout/<sha256>/failed/<host>.json".
func FailureAddress(channel release.Address, sha, host string) release.Address {
	return release.Address{Bucket: channel.Bucket, Key: rolloutPrefix(channel, sha) + "failed/" + path.Clean("/" + host)[1:] + ".json"}
}

// HaltAddress is the halt record of the release with SHA-256 sha:
// "<key>.rollout/<sha256>/halt.json".
func HaltAddress(channel release.Address, sha string) release.Address {
	return release.Address{Bucket: channel.Bucket, Key: rolloutPrefix(channel, sha) + "halt.json"}
}

func checkSHA(sha string) error {
	if b, err := hex.DecodeString(sha); err != nil || len(b) != 32 || strings.ToLower(sha) != sha {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", sha)
	}
	return nil
}

// FailureRecord is written once per host that failed a release and
// rolled back (or could not): the evidence HaltAfter counts.
type FailureRecord struct {
	Host    string    `json:"host"`
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	Outcome string    `json:"outcome"` // rolled-back or failed
	Error   string    `json:"error"`
	Time    time.Time `json:"time"`
}

// RecordFailure writes f at FailureAddress(channel, f.SHA256, f.Host),
// create-only (If-None-Match: *): a host's first failure of a release is
// the one kept, and a retry after a lost response changes nothing. It
// returns nil when the record already exists.
func (c *Client) RecordFailure(ctx context.Context, channel release.Address, f FailureRecord) error {
	if err := checkSHA(f.SHA256); err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	if f.Host == "" {
		return errors.New("record failure: no host name")
	}
	_, err := c.store.PutIf(ctx, FailureAddress(channel, f.SHA256, f.Host), &f, "")
	if errors.Is(err, release.ErrPreconditionFailed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	return nil
}

// HaltRecord is the halt state of one release, written by `pkgdeb halt`
// and `pkgdeb resume`, and by the agent whose failure reaches the policy's
// HaltAfter. Every write is conditional on the ETag read (or create-only),
// so racing writers never lose each other's update: the loser reads again
// and re-decides.
type HaltRecord struct {
	// Halted stops every host that does not yet run the release from
	// adopting it.
	Halted bool `json:"halted"`
	// Auto is true when agents halted it after HaltAfter failures.
	Auto bool `json:"auto,omitempty"`
	// By and Reason say who halted or resumed it and why; Time when.
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
	// Forgiven is the number of failures that a resume accepted: only
	// failures beyond it count toward HaltAfter again.
	Forgiven int `json:"forgiven,omitempty"`
	// Version and SHA256 name the release.
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256"`
	// Nonce makes every write's ETag new (see LeaseRecord.Nonce).
	Nonce string `json:"nonce"`
}

// SetNonce implements release.Noncer.
func (r *HaltRecord) SetNonce(n string) { r.Nonce = n }

// RolloutState is what hosts and people need to know of a release's
// rollout beyond its policy: is it halted, and who failed it.
type RolloutState struct {
	SHA256 string
	// Halted reports whether hosts must not adopt the release: its halt
	// record says so, or HaltAfter failures beyond the forgiven ones are
	// recorded (even when the agent that recorded the last one died before
	// writing the halt record).
	Halted bool
	// Reason says why, for status output and logs.
	Reason string
	// Record is the halt record, nil when there is none.
	Record *HaltRecord
	// FailedHosts are the hosts that recorded a failure, sorted.
	FailedHosts []string
}

// ReadHalt reads the halt record of the release with SHA-256 sha (one
// GET): nil when there is none. Agents call it before trying to take an
// update slot; the full ReadRolloutState, which lists failures too, once
// they hold one.
func (c *Client) ReadHalt(ctx context.Context, channel release.Address, sha string) (*HaltRecord, error) {
	if err := checkSHA(sha); err != nil {
		return nil, fmt.Errorf("read halt: %w", err)
	}
	var rec HaltRecord
	_, err := c.store.Get(ctx, HaltAddress(channel, sha), maxRecordSize, &rec)
	switch {
	case errors.Is(err, release.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read halt: %w", err)
	}
	return &rec, nil
}

// Describe says who halted or resumed the release, when, and why.
func (r *HaltRecord) Describe() string {
	verb := "resumed"
	if r.Halted {
		verb = "halted"
	}
	s := fmt.Sprintf("%s by %s at %s", verb, r.By, r.Time.UTC().Format(time.RFC3339))
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// ReadRolloutState reads the halt record (one GET) and lists the failure
// records (one LIST per 1000) of the release with SHA-256 sha, and decides
// whether it is halted under haltAfter (0: only by an explicit halt).
func (c *Client) ReadRolloutState(ctx context.Context, channel release.Address, sha string, haltAfter int) (*RolloutState, error) {
	if err := checkSHA(sha); err != nil {
		return nil, fmt.Errorf("read rollout state: %w", err)
	}
	var (
		wg           sync.WaitGroup
		rec          HaltRecord
		getErr       error
		hosts        []string
		listErr      error
		haltAddr     = HaltAddress(channel, sha)
		failedPrefix = rolloutPrefix(channel, sha) + "failed/"
	)
	wg.Go(func() { _, getErr = c.store.Get(ctx, haltAddr, maxRecordSize, &rec) })
	wg.Go(func() { hosts, listErr = c.listNames(ctx, channel.Bucket, failedPrefix) })
	wg.Wait()
	st := &RolloutState{SHA256: sha, FailedHosts: hosts}
	switch {
	case listErr != nil:
		return nil, fmt.Errorf("read rollout state: %w", listErr)
	case errors.Is(getErr, release.ErrNotFound):
	case getErr != nil:
		return nil, fmt.Errorf("read rollout state: %w", getErr)
	default:
		st.Record = &rec
	}
	st.decide(haltAfter)
	return st, nil
}

// decide sets Halted and Reason from the record and the failures.
func (st *RolloutState) decide(haltAfter int) {
	forgiven := 0
	if r := st.Record; r != nil {
		forgiven = r.Forgiven
		if r.Halted {
			st.Halted = true
			st.Reason = r.Describe()
			return
		}
	}
	if n := len(st.FailedHosts) - forgiven; haltAfter > 0 && n >= haltAfter {
		st.Halted = true
		st.Reason = failureReason(st.FailedHosts, forgiven, haltAfter)
	}
}

func failureReason(hosts []string, forgiven, haltAfter int) string {
	n := len(hosts) - forgiven
	s := fmt.Sprintf("%d hosts failed (halt-after %d): %s", n, haltAfter, joinHosts(hosts))
	if forgiven > 0 {
		s = fmt.Sprintf("%d hosts failed since the last resume (halt-after %d; %d before): %s", n, haltAfter, forgiven, joinHosts(hosts))
	}
	return s
}

func joinHosts(hosts []string) string {
	const show = 5
	if len(hosts) <= show {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(hosts[:show], ", "), len(hosts)-show)
}

// HaltIfFailed is what an agent calls after RecordFailure: it reads the
// rollout state and, when the failures reach haltAfter and no halt
// record says so yet, writes one (Auto, by host) so that people see the
// halt and why. It returns the state after that.
func (c *Client) HaltIfFailed(ctx context.Context, channel release.Address, sha, version string, haltAfter int, host string) (*RolloutState, error) {
	var st *RolloutState
	err := c.updateHalt(ctx, channel, sha, func(cur *HaltRecord) (*HaltRecord, error) {
		var err error
		if st, err = c.ReadRolloutState(ctx, channel, sha, haltAfter); err != nil {
			return nil, err
		}
		if !st.Halted || (cur != nil && cur.Halted) {
			return nil, nil
		}
		rec := HaltRecord{Halted: true, Auto: true, By: host, Reason: st.Reason, Time: time.Now().UTC(), Version: version, SHA256: sha}
		if cur != nil {
			rec.Forgiven = cur.Forgiven
		}
		return &rec, nil
	})
	if err != nil {
		return nil, fmt.Errorf("halt after failures: %w", err)
	}
	return st, nil
}

// Halt marks the release with SHA-256 sha halted, by who, for reason.
// Halting a halted release keeps the first record, which it returns with
// already true.
func (c *Client) Halt(ctx context.Context, channel release.Address, sha, version, by, reason string) (rec *HaltRecord, already bool, err error) {
	var out *HaltRecord
	err = c.updateHalt(ctx, channel, sha, func(cur *HaltRecord) (*HaltRecord, error) {
		already = cur != nil && cur.Halted
		if already {
			out = cur
			return nil, nil
		}
		rec := HaltRecord{Halted: true, By: by, Reason: reason, Time: time.Now().UTC(), Version: version, SHA256: sha}
		if cur != nil {
			rec.Forgiven = cur.Forgiven
		}
		out = &rec
		return &rec, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("halt %s: %w", channel, err)
	}
	return out, already, nil
}

// Resume lifts a halt of the release with SHA-256 sha: hosts adopt it
// again, and the failures recorded so far are forgiven (HaltAfter counts
// from zero again). It returns the new record.
func (c *Client) Resume(ctx context.Context, channel release.Address, sha, version, by, reason string) (*HaltRecord, error) {
	var out *HaltRecord
	err := c.updateHalt(ctx, channel, sha, func(cur *HaltRecord) (*HaltRecord, error) {
		st, err := c.ReadRolloutState(ctx, channel, sha, 0)
		if err != nil {
			return nil, err
		}
		out = &HaltRecord{By: by, Reason: reason, Time: time.Now().UTC(), Forgiven: len(st.FailedHosts), Version: version, SHA256: sha}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", channel, err)
	}
	return out, nil
}

// updateHalt reads the halt record with its ETag, asks change for the new
// one (nil: leave it), and writes it conditionally (If-Match on the ETag,
// or If-None-Match: * when there was none), reading again after a lost
// race, at most maxHaltAttempts times.
func (c *Client) updateHalt(ctx context.Context, channel release.Address, sha string, change func(cur *HaltRecord) (*HaltRecord, error)) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	a := HaltAddress(channel, sha)
	for range maxHaltAttempts {
		var rec HaltRecord
		info, err := c.store.Get(ctx, a, maxRecordSize, &rec)
		cur, etag := &rec, info.ETag
		switch {
		case errors.Is(err, release.ErrNotFound):
			cur, etag = nil, ""
		case err != nil:
			return err
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return err
		}
		_, err = c.store.PutIf(ctx, a, next, etag)
		if errors.Is(err, release.ErrPreconditionFailed) {
			continue
		}
		return err
	}
	return fmt.Errorf("%s: %w: other writers kept changing it (%d attempts)", a, release.ErrPreconditionFailed, maxHaltAttempts)
}

// ReadFailures reads every failure record of the release with SHA-256
// sha (one LIST, one GET each), sorted by time.
func (c *Client) ReadFailures(ctx context.Context, channel release.Address, sha string) ([]FailureRecord, error) {
	if err := checkSHA(sha); err != nil {
		return nil, fmt.Errorf("read failures: %w", err)
	}
	hosts, err := c.listNames(ctx, channel.Bucket, rolloutPrefix(channel, sha)+"failed/")
	if err != nil {
		return nil, fmt.Errorf("read failures: %w", err)
	}
	out := make([]FailureRecord, 0, len(hosts))
	for _, h := range hosts {
		var f FailureRecord
		if _, err := c.store.Get(ctx, FailureAddress(channel, sha, h), maxRecordSize, &f); err != nil {
			if errors.Is(err, release.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("read failures: %w", err)
		}
		f.Host = h
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b FailureRecord) int { return a.Time.Compare(b.Time) })
	return out, nil
}
