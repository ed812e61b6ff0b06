package restart

// Refusals are the texts of tableflip's "not yet" answers that the upgrade
// loop retries on, for the external tests to compare with tableflip's own.
var Refusals = []string{notReadyYet, parentRunning}
