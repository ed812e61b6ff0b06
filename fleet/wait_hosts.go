package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/debfleet/debfleet/release"
)

// WaitHosts reads channel's status objects every interval until done
// returns true for every host in hosts, or ctx ends: for tests and demos
// that know their hosts by name and wait for each to reach a state (people
// and CI follow a release with Watch). onDone is called once per host,
// the first time its status satisfies done (nil: not called). It returns
// the last fleet status read.
func (c *Client) WaitHosts(ctx context.Context, channel release.Address, hosts []string, interval time.Duration,
	done func(HostStatus) bool, onDone func(HostStatus)) (*FleetStatus, error) {
	seen := map[string]bool{}
	var last *FleetStatus
	var lastErr error
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("wait for %d hosts' status at %s: %w (last read error: %v; last statuses: %s)",
				len(hosts), channel, ctx.Err(), lastErr, last.Describe())
		case <-t.C:
		}
		fs, err := c.ReadStatus(ctx, channel)
		if err != nil {
			lastErr = err
			t.Reset(interval)
			continue
		}
		last = fs
		for _, st := range fs.Hosts {
			if !seen[st.Host] && done(st) {
				seen[st.Host] = true
				if onDone != nil {
					onDone(st)
				}
			}
		}
		all := true
		for _, h := range hosts {
			all = all && seen[h]
		}
		if all {
			return last, nil
		}
		t.Reset(interval)
	}
}
