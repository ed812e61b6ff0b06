package restart

// Descendants is descendants, for the external tests.
var Descendants = descendants
