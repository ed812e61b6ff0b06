package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// STSServer is a stand-in for AWS STS that answers GetCallerIdentity, for
// code that learns its IAM ${aws:userid} at boot. It checks each request
// as STS would: a form POST to "/", signed with SigV4 for service "sts" in
// its region by its credentials (the signature recomputed with the AWS
// SDK's signer over the headers the request says it signed).
type STSServer struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_STS).
	URL string
	// UserID is what GetCallerIdentity answers, e.g. "AROAEXAMPLE:i-0123".
	UserID string
	calls  atomic.Int64
}

// Calls returns how many requests it answered with the UserId.
func (s *STSServer) Calls() int64 { return s.calls.Load() }

// STS starts an STSServer on 127.0.0.1 for the test (containers on the
// host's network reach it there too). It answers requests signed by creds
// for region; any other request gets STS's error answer (403), and is
// logged.
func STS(t testing.TB, creds aws.Credentials, region, userID string) *STSServer {
	t.Helper()
	s := &STSServer{UserID: userID}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkSTSRequest(r, creds, region); err != nil {
			t.Logf("stand-in STS refused a request: %v", err)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error></ErrorResponse>`, err)
			return
		}
		s.calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/web/i-0</Arn>
    <UserId>%s</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>
`, userID)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// checkSTSRequest checks r as STS checks a GetCallerIdentity call.
func checkSTSRequest(r *http.Request, creds aws.Credentials, region string) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || r.URL.Path != "/" || err != nil ||
		form.Get("Action") != "GetCallerIdentity" || form.Get("Version") != "2011-06-15" {
		return fmt.Errorf("want a POST of Action=GetCallerIdentity&Version=2011-06-15 to /, got %s %s %q", r.Method, r.URL.Path, body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return fmt.Errorf("content type %q", ct)
	}
	return checkSigV4(r, body, creds, "sts", region)
}

// checkSigV4 checks that r, whose body was body, is signed with SigV4 by
// creds for service in region: the signature is recomputed with the AWS
// SDK's signer over the headers the request says it signed, and the
// session token must be creds'.
func checkSigV4(r *http.Request, body []byte, creds aws.Credentials, service, region string) error {
	auth := r.Header.Get("Authorization")
	signed, ok := authField(auth, "SignedHeaders=")
	if !ok {
		return fmt.Errorf("no SigV4 Authorization header: %q", auth)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	// Sign a copy holding only the headers the client says it signed;
	// the SDK signer adds host, date and session token itself.
	cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.Path, nil)
	for _, name := range strings.Split(signed, ";") {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
		case "content-length":
			// Go's server keeps it out of Header; the signer reads it
			// from the field.
			cp.ContentLength = r.ContentLength
		default:
			cp.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if want := cp.Header.Get("Authorization"); want != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, want)
	}
	if creds.SessionToken != r.Header.Get("X-Amz-Security-Token") {
		return fmt.Errorf("session token %q", r.Header.Get("X-Amz-Security-Token"))
	}
	return nil
}

// authField returns the value of a field ("SignedHeaders=") of a SigV4
// Authorization header.
func authField(auth, field string) (string, bool) {
	for _, f := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), field); ok {
			return v, true
		}
	}
	return "", false
}
