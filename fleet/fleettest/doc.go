// Package fleettest gives tests of code built on fleet a Store in memory,
// and the conformance suite every Store passes.
//
// The memory Store keeps the contracts of fleet.Store as S3 does through
// release.Records (ETags, conditional writes, size caps, sorted listings),
// so the agent's decisions and the fleet summary can be tested in
// milliseconds; TestStore runs the same checks against it and against
// real S3 servers, which is what makes that substitution honest.
package fleettest
