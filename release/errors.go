package release

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Permanent failures a caller can tell apart with errors.Is. See the
// package documentation for when each occurs.
var (
	ErrNotFound           = errors.New("not found")
	ErrAccessDenied       = errors.New("access denied")
	ErrNotVersioned       = errors.New("bucket versioning is not enabled")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrUnreachable        = errors.New("cannot reach the S3 endpoint")
	// ErrChecksumMismatch: bytes read or written differ from the manifest's
	// size or SHA-256.
	ErrChecksumMismatch = errors.New("checksum mismatch")
	// ErrNoSpace: the file a release is fetched into has no room for it;
	// nothing was downloaded.
	ErrNoSpace = errors.New("not enough disk space")
	// ErrNoManifest: the object version carries no (valid) release manifest,
	// so it was not written by Publish.
	ErrNoManifest = errors.New("no release manifest")
	// ErrNoCredentials: the SDK's credential chain found nothing (no
	// environment variables, shared config or credentials file, SSO, web
	// identity, container or instance role), so no request was sent. The
	// error says how to provide credentials and what the last source
	// tried answered. It matches ErrAccessDenied too: without credentials
	// nothing is allowed.
	ErrNoCredentials error = noCredentials{}
	// ErrInsecureEndpoint: New was given, or found in the environment or
	// shared config, a plain http:// endpoint whose host is not a loopback
	// address, without Options.AllowInsecureEndpoint.
	ErrInsecureEndpoint = errors.New("plain http:// endpoint off loopback")
)

// noCredentials is ErrNoCredentials's type, which also matches
// ErrAccessDenied so that callers stopping on a denial stop on it.
type noCredentials struct{}

func (noCredentials) Error() string        { return "no AWS credentials found" }
func (noCredentials) Is(target error) bool { return target == ErrAccessDenied }

// credentialsError is a failure of the credential chain, marked by
// markedCredentials. The SDK reports one only as text ("get identity:
// ..."), carrying the HTTP error of the last source it tried: without the
// mark, the instance metadata service answering 403 or 404 on a machine
// that is not an EC2 instance read as S3 denying access or finding nothing.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// markedCredentials is the client's credential provider: the resolved one,
// with its failures marked as credentialsError.
type markedCredentials struct{ aws.CredentialsProvider }

func (p markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return creds, &credentialsError{err: err}
	}
	return creds, err
}

// IsCredentialsProvider lets the SDK see through the wrapper (it skips
// signing for aws.AnonymousCredentials).
func (p markedCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(p.CredentialsProvider, target)
}

// Error is a failed S3 operation on a release channel.
type Error struct {
	Op     string // what we were doing: "publish", "history", ...
	Target string // the address, with "?versionId=..." when pinned
	Kind   error  // one of the sentinel errors, or nil when none applies
	Detail string // S3's error code and message, or the network error
	Err    error  // the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Target != "" {
		b.WriteString(" " + e.Target)
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		if e.Detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Unwrap returns the sentinel and the underlying error.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// opError classifies err from an S3 call made while doing op on target.
// Context errors pass through wrapped so errors.Is(err, context.Canceled)
// holds.
func (c *Client) opError(op, target string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, Target: target, Err: err}
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	// A connection closed or reset while the request was being sent (a
	// server restarting, a proxy dropping us) carries no net.OpError,
	// only the SDK's RequestSendError; it is the same outage as a refused
	// connection and must be classified the same, or callers that log
	// once per kind of failure see it flip between kinds.
	var sendErr *smithyhttp.RequestSendError
	var credErr *credentialsError
	status := 0
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Detail = err.Error()
		if errors.Is(err, context.Canceled) {
			e.Detail = "interrupted"
		}
		return e
	case errors.As(err, &credErr):
		// Before the status cases: a status here is the metadata
		// service's, and no request reached S3.
		e.Kind = ErrNoCredentials
		e.Detail = "provide them with AWS_PROFILE (a profile in the shared config or credentials file), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or an instance role; last attempt: " +
			strings.TrimPrefix(credErr.err.Error(), "failed to refresh cached credentials, ")
	case errors.As(err, &apiErr):
		code := apiErr.ErrorCode()
		e.Detail = code
		if msg := apiErr.ErrorMessage(); msg != "" {
			e.Detail += ": " + msg
		}
		e.Kind = kindOf(code, status)
	case status != 0:
		e.Detail = fmt.Sprintf("HTTP status %d", status)
		e.Kind = kindOf("", status)
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.As(err, &sendErr):
		e.Kind = ErrUnreachable
		var inner error
		switch {
		case dnsErr != nil:
			inner = dnsErr
		case opErr != nil:
			inner = opErr
		default:
			inner = sendErr.Err
		}
		e.Detail = fmt.Sprintf("%s: %v", c.endpointName(), inner)
		var maxErr *retry.MaxAttemptsError
		if errors.As(err, &maxErr) {
			e.Detail += fmt.Sprintf(" (gave up after %d attempts)", maxErr.Attempt)
		}
	default:
		e.Detail = err.Error()
	}
	return e
}

// kindOf maps S3 error codes and HTTP statuses to sentinels. HEAD responses
// have no body, so only the status is known for them.
func kindOf(code string, status int) error {
	switch code {
	case "NoSuchBucket", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchUpload":
		return ErrNotFound
	case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest":
		return ErrChecksumMismatch
	// XAdminUserNotFound is versitygw's word for an unknown access key.
	case "AccessDenied", "InvalidAccessKeyId", "XAdminUserNotFound", "SignatureDoesNotMatch", "Forbidden",
		"InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem":
		return ErrAccessDenied
	case "PreconditionFailed", "ConditionalRequestConflict":
		return ErrPreconditionFailed
	}
	switch status {
	case 404:
		return ErrNotFound
	case 401, 403:
		return ErrAccessDenied
	case 409, 412:
		if code == "" || status == 412 {
			return ErrPreconditionFailed
		}
	}
	return nil
}
