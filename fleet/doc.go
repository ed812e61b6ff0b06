// Package fleet is what the hosts following a release channel, and the
// people watching them, coordinate through next to the channel: host
// status objects, update slots, failure and halt records, the rollout
// policy with its waves, and the fleet summary with its verdict.
//
// A Client reads and writes those records through a Store (for S3,
// release.Client.Records; fleettest.Store in memory), never the release
// itself. The decisions a host makes about a release, given its policy,
// the time, the slots and the failures (Rollout.Reach, Halted,
// Rollout.Slots, Rollout.NoSlot, Rollout.MayTry), and the summary of a
// fleet (Summarize, Summary.AddRollout) are plain functions of what was
// read; Client.Summary reads what they need. Client.StreamSummary gives
// the same summary of a fleet of any size in bounded memory: it reads the
// status objects page by page, many at a time (EachStatus), counts them
// one at a time and keeps only the most relevant hosts (Relevance).
//
// # Contracts
//
// Rollout policy. A release's Policy (waves, wave interval, max-updating,
// halt-after) is stored in its Manifest (Policy.Apply, PolicyOf), so it is
// written atomically with the bytes and covered by the signature; a
// manifest without one has DefaultPolicy, every host at once, and needs
// no request beyond reading the release. A host's place in a rollout,
// Place(host, sha256), and a wave's start, PublishedAt + i*WaveInterval,
// are pure functions: every host computes the same waves with no shared
// state.
//
// Update slots (leases). MaxUpdating is enforced with one small object per
// slot, "<key>.leases/<n>.json" (LeaseAddress), shared by every release of
// the channel. Every write to a slot is conditional, never read-then-write:
// AcquireLease creates a missing slot with If-None-Match: * and takes a
// free, expired or own slot with If-Match on the ETag it just read, so of
// hosts racing for a slot exactly one wins (S3 answers the others 412) and
// moves on to the next slot; when every slot looked at is held the caller
// gets ErrNoLease and waits for its next poll. A lease lasts its TTL
// (LeaseRequest.TTL; the agent's default is one minute) unless renewed:
// Lease.Renew and Keep push Expires with If-Match on the lease's own ETag,
// so a holder that dies blocks its slot for at most the TTL, and a holder
// whose lease expired and was taken over learns it from the 412 as
// ErrLeaseLost and is no longer counted. Expiry uses the holder's clock:
// hosts must agree to well within the TTL (NTP does). The holder's claims
// are capped by the store's clock: a slot counts as free MaxLeaseTTL after
// its last write (the store's LastModified), and a record acquired after
// it was written holds nothing, so a rogue writer cannot hold a slot
// forever. Release is a
// conditional overwrite with an empty holder, not a DELETE: versitygw
// refuses If-None-Match: * on a key whose current version is a delete
// marker, which would leave a deleted slot unusable; an overwrite keeps
// every transition conditional on every S3 server. Every lease and halt
// record carries a fresh random Nonce, because the ETag of a single PUT is
// the MD5 of its body: without it, a record rewritten with the same content
// (an A-B-A sequence) would keep its ETag and a stale If-Match would still
// succeed; with it If-Match is a true compare-and-swap. The SDK may resend
// a conditional PUT whose response was lost; the resend then fails its
// condition although the first attempt won, which at worst leaves a slot
// held until it expires, never granted twice.
//
// Halts. A host that fails a release and rolls back records it once,
// create-only (If-None-Match: *), at "<key>.rollout/<sha256>/failed/<host>.json"
// (FailureAddress); a second failure of the same host changes nothing. A
// release is halted when its halt record, "<key>.rollout/<sha256>/halt.json"
// (HaltAddress), says so (pkgdeb halt, or the agent whose failure reached
// HaltAfter), or when the failures recorded beyond those a resume forgave
// reach HaltAfter (ReadRolloutState): the halt follows from the failure
// records alone, so an agent that dies before writing the halt record, or
// may not write it (docs/iam-agent.json grants agents no write on it),
// halts the release all the same. Halt, Resume and HaltIfFailed update the
// record by read, change, then a PUT conditional on the ETag read (or
// If-None-Match: * when there is none); a writer that loses the race (412)
// reads again and re-decides, at most 8 times, then gives
// release.ErrPreconditionFailed. Halting a halted release keeps the first record.
// A missing halt record or slot reads as release.ErrNotFound also where S3 answers
// 403 for it (a caller without s3:ListBucket on the bucket): a LIST of the
// key, allowed by a prefix-limited grant, settles it; a 403 a LIST cannot
// settle stays release.ErrAccessDenied, never a guess that nothing is there.
package fleet
