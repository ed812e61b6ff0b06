// Command bench-status is the driver behind scripts/bench-status: what
// `pkgdeb status` costs over a large fleet, against the AWS CLI reading
// the same status prefix in the same run.
//
// For each fleet size (-hosts 10000,100000) it seeds a versioned bucket in
// versitygw once with a channel (releases 1.0 and 1.1) and that many host
// status objects, written as agents write them (fleet.Client.PutStatus,
// many at a time), a mix of states (mostly on 1.1; some on 1.0, failed,
// rolled back, installing, refused; a few garbage objects), and keeps
// versitygw's directory under -cache (default .cache/bench/status-N) so
// that later runs start at once. Each run starts versitygw on that
// directory with an access log, then runs each measured command as a
// child process and reports its wall time, peak RSS (the child's own, from
// wait4's rusage) and the S3 requests it made (access-log lines): `pkgdeb
// status` (every -pkgdeb binary given, e.g. the one before and after a
// change), `aws s3 ls --recursive` of the status prefix (listing only) and
// `aws s3 sync` of it (reading every object), and the ratio of each to
// pkgdeb's time.
package main
