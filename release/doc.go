// Package release is the release channel on S3: one object key in a
// versioned bucket (s3://acme-releases/hello/production.deb) whose current
// version is the release every server should run, and whose older versions
// are the history that rollback draws on.
//
// A Client publishes a package to a channel, lists its history, makes an
// earlier version current again (rollback), copies one channel's release to
// another (promote), and serves agents: HeadIfNoneMatch (the cheap poll),
// FetchFile (a pinned version into a file, verified before it appears),
// Manifest.Verify (signatures), and PutJSON/ListStatus for the small status
// objects agents write next to the release. It knows nothing of dpkg:
// callers hand it bytes and a Manifest.
//
// # Contracts
//
// Atomicity. A release is one S3 object version: the package bytes and its
// Manifest, stored as the object's user metadata, are written by a single
// PutObject, CompleteMultipartUpload or CopyObject, so a reader never sees
// the bytes of one release with the manifest of another. Until that single
// call succeeds the channel's current version is the previous one: an
// interrupted multipart upload is aborted (with a fresh 30 s context, so
// also after the caller's context is cancelled) and never becomes current.
//
// Identity. A VersionId names exactly one immutable object version: the
// same VersionId always returns the same bytes and metadata, or an
// ErrNotFound once deleted. ETags are not identities (multipart and
// SSE-KMS ETags are not MD5s, and a rollback restores an ETag seen before);
// compare VersionIds, and the manifest's SHA-256 for content.
//
// Integrity. Publish asks S3 to verify a SHA-256 checksum of what it
// receives (of the whole object for single-part uploads, of every part for
// multipart ones), hashes the bytes as they are sent, and removes the new
// version again if they do not match the manifest's SHA-256 (a file changed
// during upload). Fetch hashes what it receives and checks it against the
// manifest's size and SHA-256 and against S3's own stored SHA-256 checksum:
// the full-object one, or the composite one of a multipart upload, whose
// part boundaries it learns with one HEAD ?partNumber per part. Any
// difference is ErrChecksumMismatch.
//
// Retries. Every request is retried by the SDK's standard retryer on
// throttling (503 SlowDown, 429), 5xx responses, timeouts and connection
// errors, with exponential backoff and jitter, at most Options.MaxAttempts
// times in all (default 3, backoff capped at Options.MaxBackoff, default
// 2 s), so an unreachable endpoint fails within seconds with ErrUnreachable.
// No client-side retry quota is used: the bound is the attempt count.
// Multipart part uploads are retried individually the same way.
//
// Errors. Failures that retrying cannot fix are reported with an *Error that
// wraps one of the sentinel errors below; tell them apart with errors.Is:
// ErrNotFound (no such bucket, key or version), ErrAccessDenied (wrong
// credentials, or a policy forbids it), ErrNoCredentials (the SDK's chain
// found none, so nothing was sent; the error says how to provide them, and
// it matches ErrAccessDenied too), ErrNotVersioned (the bucket does not
// keep versions, so rollback would be impossible), ErrPreconditionFailed
// (the channel changed between our check and our write, or a conditional
// request did not match), ErrUnreachable (no network path to the endpoint
// after all attempts). Context cancellation is returned as the context's
// error. No error or log line contains a credential: errors carry S3's
// error code and message only, or the credential chain's.
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
// hosts must agree to well within the TTL (NTP does). Release is a
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
// ErrPreconditionFailed. Halting a halted release keeps the first record.
// A missing halt record or slot reads as ErrNotFound also where S3 answers
// 403 for it (a caller without s3:ListBucket on the bucket): a LIST of the
// key, allowed by a prefix-limited grant, settles it; a 403 a LIST cannot
// settle stays ErrAccessDenied, never a guess that nothing is there.
//
// Signing. A Manifest can carry an ed25519 signature over its canonical
// form (see Manifest.Canonical); keys are made by GenerateKey and stored as
// PEM (PKCS #8 and PKIX) files by WriteKeyPair. LoadSigningKey refuses a
// key file that group or others may read (ErrLoosePermissions) and one that
// holds no private key (ErrNotPrivateKey); Manifest.Verify tells an
// unsigned manifest (ErrUnsigned), an unknown key (ErrUnknownKey) and a
// bad signature (ErrBadSignature) apart.
package release
