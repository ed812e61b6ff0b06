// Package realparts starts the real parts that tests, the demo and the
// benchmark drivers run against: a versitygw S3 server, the proxy in front
// of it that counts requests and injects HTTP-level faults (S3Proxy), dpkg
// sandbox roots, Go binaries built from this module, small agent packages
// and HTTP load.
// It does not import testing, so commands link it without the test
// framework; internal/testenv wraps it in testing.TB helpers for tests.
package realparts
