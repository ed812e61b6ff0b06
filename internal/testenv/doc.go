// Package testenv is the testing.TB glue over internal/realparts: it starts
// real parts for one test or one test binary, skips the test when a part is
// missing (or fails it in CI), and cleans up when the test ends. Code
// outside tests uses realparts directly, so it does not link testing.
package testenv
