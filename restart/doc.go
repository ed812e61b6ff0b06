// Package restart gives a Go network service zero-downtime restarts. On
// SIGHUP (or SIGUSR2) the service starts its binary again, as it is now on
// disk, hands it the listening sockets (tableflip, patched under
// third_party/), and once the new process says it is Ready the old one
// stops accepting, drains its connections and exits; SIGTERM and SIGINT
// drain and exit. One upgrade runs at a time, and at most one process is
// not Ready. A new binary that exits, crashes or is not Ready within
// UpgradeTimeout is killed and the old process keeps serving. Plain
// tableflip fails requests at each upgrade (idle keep-alive connections are
// reset, requests read after Shutdown began get no answer); Serve drains an
// *http.Server so that none fails.
//
// Older generations drain side by side: the new generation may upgrade as
// soon as it is Ready, whatever its predecessors still drain (tableflip
// alone waits for the previous process to exit, so one long request or
// websocket would hold every later upgrade, and an agent installing the
// next release would roll it back). Each old generation drains on its own,
// bounded by its own DrainTimeout, and ignores SIGHUP and SIGTERM while it
// does. A stop during an upgrade waits for it: if the new process becomes
// Ready, it is sent SIGTERM too, so that the whole service stops and
// nothing is killed.
//
// Serve also drains what outlives a request. A *grpc.Server, or any
// GracefulServer, gets GracefulStop: its clients move to the new process
// without a failed call. Handlers of websockets and server-sent events
// select on Draining(r.Context()) and ask their clients to reconnect (a
// close frame 1012, the end of the event stream), which they do to the new
// process; websockets still open at DrainTimeout are closed, with a count in
// the log. HTTP/2, over TLS or h2c, needs nothing more.
//
// The PID file is rewritten atomically by each new process once it is
// Ready, and by the old one after a failed upgrade: it always names the
// newest generation that serves. Under systemd, use Type=notify with
// NotifyAccess=all: each process reports MAINPID and READY=1 itself, and
// RELOADING=1 during an upgrade, so systemctl status, stop and reload
// follow the newest process; after ExecStop, systemd's control-group stop
// waits for the generations still draining (keep TimeoutStopSec above
// DrainTimeout):
//
//	[Service]
//	Type=notify
//	NotifyAccess=all
//	ExecStart=/usr/bin/hello --pidfile /run/hello/hello.pid --listen :8080 --env-file -/etc/default/hello
//	EnvironmentFile=-/etc/default/hello
//	ExecReload=/bin/sh -c 'kill -HUP $MAINPID'
//	ExecStop=/bin/sh -c 'kill -TERM $MAINPID; while kill -0 $MAINPID 2>/dev/null; do sleep 0.1; done'
//	RuntimeDirectory=hello
//	TimeoutStopSec=45
//
// A new generation inherits the old one's environment, so a changed
// EnvironmentFile= would wait for a full restart: name the same files in
// Options.EnvFiles and each upgrade reads them again (systemd's syntax, see
// ParseEnvFile). A variable deleted from a file is gone from the next
// generation; a file that cannot be read fails the upgrade, and the old
// process keeps serving.
//
// A service without listeners, such as a worker taking jobs from a queue,
// upgrades the same way: it calls Ready without Listen, takes a job only
// while Exit is open, and returns once the job it is running is done,
// while the new generation already takes the next ones. A job claimed by
// an atomic step (a rename into a directory of the generation, a lease in
// a queue) is never run by two generations:
//
//	for {
//		select {
//		case <-upg.Exit():
//			return nil // the new generation is Ready and takes the next job
//		default:
//		}
//		job, ok := claim() // e.g. rename(2) from new/ into claimed/<pid>/
//		if !ok {
//			select {
//			case <-upg.Exit():
//			case <-time.After(poll):
//			}
//			continue
//		}
//		run(job) // the old process exits once it returns: bound it
//	}
//
// examples/worker in the repository is this loop, runnable, with a test
// that upgrades it while jobs run and finds each done exactly once.
//
// Supervisors that follow one PID (upstart, runit, supervisord) run the
// service with RESTART_SUPERVISE=1 (SuperviseEnv): the process they start
// stays as a stable-PID supervisor of the service (see Supervise), which
// exits once every generation has. The
// repository's systemd/ and upstart/ directories hold templates.
package restart
