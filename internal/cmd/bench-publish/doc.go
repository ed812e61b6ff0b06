// Command bench-publish is the driver behind scripts/bench-publish: it
// publishes and fetches back a large package through release.Client against
// a local versitygw, next to a plain PutObject/GetObject of the same file
// with io.Copy. Each measuring mode runs in its own process, so each peak
// RSS is its own, and prints one JSON object: seconds and MiB/s for upload
// and download, HTTP requests sent, this process's peak RSS (VmHWM;
// versitygw runs as a child and is not counted) and the CPU seconds the
// download took in this process and in versitygw.
package main
