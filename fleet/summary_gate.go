package fleet

// addGate adds to rs what the release's rollout gate does to hosts: the
// gate as shown (no URL query or userinfo), and the live hosts it holds
// with the reason the first of them gives.
func (rs *RolloutSummary) addGate(ro *Rollout, hosts []HostSummary) {
	if ro.Gate.IsZero() {
		return
	}
	rs.Gate = ro.Gate.String()
	for _, h := range hosts {
		if h.Stale || h.State != StateGated {
			continue
		}
		rs.Gated++
		if rs.GateReason == "" {
			rs.GateReason = h.Rollout.Reason()
		}
	}
}
