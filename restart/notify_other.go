//go:build !linux

package restart

// notify does nothing: only Linux runs systemd.
func notify(string) error { return nil }

// monotonicUsec is not needed without systemd.
func monotonicUsec() int64 { return 0 }
