// Package release is the release channel on S3: one object key in a
// versioned bucket (s3://acme-releases/hello/production.deb) whose current
// version is the release every server should run, and whose older versions
// are the history that rollback draws on.
//
// A Client publishes a package to a channel, lists its history (ReadPlain
// adds what the versions without a manifest say they are, read from their
// first bytes by a reader the caller supplies), makes an earlier version
// current again (rollback), copies one channel's release to
// another (promote), and serves agents: HeadIfNoneMatch (the cheap poll),
// FetchFile (a pinned version into a file, verified before it appears),
// Manifest.Verify (signatures), and Records for the small JSON documents
// kept next to a channel. It knows nothing of dpkg or of the fleet:
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
// Integrity. Publish asks S3 to verify what it receives: a single PUT
// carries the manifest's SHA-256 as its checksum and as its signed payload
// hash; a multipart upload (about 8 equal parts of at least
// Options.PartSize, streamed from the body) carries each part's CRC32C and
// the whole's as a full-object checksum, computed with the SHA-256 in one
// read of the body (Client.Digest) before anything is sent. Bytes that
// differ from what was hashed (a file changed during the upload) are
// refused by S3, so the channel never changes to them. Fetch hashes what
// it receives and checks it against the manifest's size and SHA-256 and
// against S3's own stored checksum: a full-object SHA-256, CRC32C (or
// CRC32, CRC64NVME, SHA-1), or the composite SHA-256 of a release
// published multipart by earlier versions, whose part boundaries it
// learns with one HEAD ?partNumber per part. Any difference is
// ErrChecksumMismatch.
//
// Transfers. A fetch is one GET of the pinned version; a release of more
// than Options.PartSize fetched into a file (FileWriter) continues with
// ranged GETs of the same VersionId, Concurrency at a time, written in
// place and hashed in order as they complete. A range cut short or silent
// for Options.IdleTimeout is asked again from where it stopped, at most
// Options.FetchAttempts times, each request retried as below; then the
// fetch fails, and what was written must be discarded (FetchFile and the
// agent remove it). Memory does not depend on the release's size.
//
// Retries. Every request is retried by the SDK's standard retryer on
// throttling (503 SlowDown, 429), 5xx responses, timeouts and connection
// errors, with exponential backoff and jitter, at most Options.MaxAttempts
// times in all (default 3, backoff capped at Options.MaxBackoff, default
// 2 s), so an unreachable endpoint fails within seconds with ErrUnreachable.
// No client-side retry quota is used: the bound is the attempt count.
// Multipart part uploads are retried individually the same way (the
// body is re-read from the file).
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
// after all attempts), ErrNoSpace (the file a release is fetched into has
// no room for it; nothing was downloaded). Context cancellation is returned as the context's
// error. No error or log line contains a credential: errors carry S3's
// error code and message only, or the credential chain's.
//
// Endpoints. New refuses a plain http:// endpoint whose host is not a
// loopback address (127.0.0.0/8, ::1, localhost) with ErrInsecureEndpoint,
// unless Options.AllowInsecureEndpoint: requests, session tokens, packages
// and the fleet's records would otherwise cross the network unencrypted.
// The rule applies to the endpoint the S3 client resolves, so also to one
// the SDK finds in AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the shared
// config.
//
// Records. Client.Records is the one layer through which anything kept
// next to a channel as small JSON documents reaches S3 (the fleet package
// keeps host status, update slots, failures and halts there): atomic
// puts, compare-and-swap puts on the ETag with a fresh nonce per write,
// size-capped gets, and a 403 for a missing key settled by a LIST (see
// Records).
//
// Signing. A Manifest can carry an ed25519 signature over its canonical
// form (see Manifest.Canonical); keys are made by GenerateKey and stored as
// PEM (PKCS #8 and PKIX) files by WriteKeyPair. LoadSigningKey refuses a
// key file that group or others may read (ErrLoosePermissions) and one that
// holds no private key (ErrNotPrivateKey); Manifest.Verify tells an
// unsigned manifest (ErrUnsigned), an unknown key (ErrUnknownKey) and a
// bad signature (ErrBadSignature) apart.
package release
