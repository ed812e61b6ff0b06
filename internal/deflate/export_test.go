package deflate

// Test helpers for the external tests, which may import packages (such as
// internal/testenv) that import this one.
var (
	GoBinary     = goBinary
	TextBytes    = textBytes
	RandomBytes  = randomBytes
	EncodeChunks = encodeChunks
)
