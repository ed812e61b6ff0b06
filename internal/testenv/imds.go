package testenv

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// IMDSServer is a stand-in for the EC2 instance metadata service as it
// answers with HttpTokens=required (IMDSv2 only): a session token from
// `PUT /latest/api/token` with X-aws-ec2-metadata-token-ttl-seconds
// (1 to 21600), then GETs under /latest/meta-data/ only with that token in
// X-aws-ec2-metadata-token; a GET without it, or with another, is refused
// with 401 as the real service does. A path it has no value for is 404,
// as an instance metadata tag is when tags are not enabled.
type IMDSServer struct {
	// URL is the endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT).
	URL string

	token    string
	mu       sync.Mutex
	values   map[string]string
	requests []IMDSRequest
}

// IMDSRequest is one request the stand-in received.
type IMDSRequest struct {
	Method, Path string
	// Token is true when the request carried the session token.
	Token bool
	// Status is the HTTP status answered.
	Status int
}

// IMDS starts an IMDSServer on 127.0.0.1 for the test that answers
// values, keyed by the path under /latest/meta-data/ (e.g.
// "instance-id", "tags/instance/aws:autoscaling:groupName").
func IMDS(t testing.TB, values map[string]string) *IMDSServer {
	t.Helper()
	s := &IMDSServer{token: rand.Text(), values: values}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body := s.serve(r)
		if r.URL.Path == "/latest/api/token" && status == http.StatusOK {
			// The real service says how long the token lives.
			w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *IMDSServer) serve(r *http.Request) (int, string) {
	req := IMDSRequest{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-aws-ec2-metadata-token") == s.token}
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(status int, body string) (int, string) {
		req.Status = status
		s.requests = append(s.requests, req)
		return status, body
	}
	if r.URL.Path == "/latest/api/token" {
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if r.Method != http.MethodPut || err != nil || ttl < 1 || ttl > 21600 {
			return answer(http.StatusBadRequest, "")
		}
		return answer(http.StatusOK, s.token)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return answer(http.StatusMethodNotAllowed, "")
	}
	if !req.Token {
		return answer(http.StatusUnauthorized, "")
	}
	v, ok := s.values[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
	if !ok || !strings.HasPrefix(r.URL.Path, "/latest/meta-data/") {
		return answer(http.StatusNotFound, "")
	}
	return answer(http.StatusOK, v)
}

// Token returns the session token it hands out, for tests that check it
// never shows.
func (s *IMDSServer) Token() string { return s.token }

// Requests returns the requests received so far, in order.
func (s *IMDSServer) Requests() []IMDSRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]IMDSRequest(nil), s.requests...)
}
