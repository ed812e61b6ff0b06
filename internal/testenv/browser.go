package testenv

import "testing"

// Chromium returns the path of Debian's chromium, for tests that drive a
// real browser (headless, through chromedp). Outside CI a missing
// chromium skips the test; in CI (CI=true) it fails it.
func Chromium(t testing.TB) string {
	t.Helper()
	return lookTool(t, "chromium", "chromium")
}
