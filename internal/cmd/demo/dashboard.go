package main

import (
	"path/filepath"

	"github.com/debfleet/debfleet/internal/realparts"
)

// startDashboard runs `pkgdeb dashboard` for the demo's bucket on a free
// loopback port and prints its URL, so that the rollout can be watched in
// a browser while the story runs. It only watches: when it does not
// start, the demo says so and goes on. cleanup stops it with the other
// children.
func (d *driver) startDashboard() {
	addr, err := realparts.FreeAddr()
	if err == nil {
		_, _, err = d.start(filepath.Join(d.o.bin, "pkgdeb"), []string{"dashboard", "--listen", addr, "--interval", "1s", "s3://" + d.channel.Bucket},
			filepath.Join(d.work, "dashboard.log"))
	}
	if err != nil {
		d.s.say("dashboard: not started: %v", err)
		return
	}
	d.s.say("watch it live: http://%s/ (pkgdeb dashboard, read-only; its log: dashboard.log)", addr)
}
