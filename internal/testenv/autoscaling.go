package testenv

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// AutoScalingServer is a stand-in for the EC2 Auto Scaling API that
// answers CompleteLifecycleAction, for code that completes a launch
// lifecycle action. It checks each request as Auto Scaling would: a form
// POST to "/" (the query protocol, Version 2011-01-01), signed with SigV4
// for service "autoscaling" in its region by its credentials. Only the
// actions put in Pending:Wait with Launch can be completed, once each; any
// other gets Auto Scaling's ValidationError.
type AutoScalingServer struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_AUTO_SCALING).
	URL string

	mu       sync.Mutex
	waiting  map[LifecycleAction]bool
	results  map[LifecycleAction]string
	calls    []AutoScalingCall
	failNext int
}

// LifecycleAction names a lifecycle action the stand-in knows.
type LifecycleAction struct{ Group, Hook, InstanceID string }

// AutoScalingCall is one request the stand-in received.
type AutoScalingCall struct {
	// Form is the request's form body (Action, Version, parameters).
	Form url.Values
	// SignatureErr says why the SigV4 check failed, "" when it passed.
	SignatureErr string
	// Status is the HTTP status answered.
	Status int
}

// AutoScaling starts an AutoScalingServer on 127.0.0.1 for the test,
// accepting requests signed by creds for region.
func AutoScaling(t testing.TB, creds aws.Credentials, region string) *AutoScalingServer {
	t.Helper()
	s := &AutoScalingServer{waiting: map[LifecycleAction]bool{}, results: map[LifecycleAction]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, code, msg := s.serve(r, creds, region)
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <CompleteLifecycleActionResult/>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</CompleteLifecycleActionResponse>
`)
			return
		}
		t.Logf("stand-in Auto Scaling answered %d %s: %s %s", status, code, msg, s.lastSignatureErr())
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ErrorResponse>`,
			code, msg)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// serve checks and answers one request: its HTTP status, and for an
// error the code and message.
func (s *AutoScalingServer) serve(r *http.Request, creds aws.Credentials, region string) (int, string, string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return http.StatusBadRequest, "MalformedInput", err.Error()
	}
	form, _ := url.ParseQuery(string(body))
	call := AutoScalingCall{Form: form}
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(status int, code, msg string) (int, string, string) {
		call.Status = status
		s.calls = append(s.calls, call)
		return status, code, msg
	}
	if err := checkSigV4(r, body, creds, "autoscaling", region); err != nil {
		call.SignatureErr = err.Error()
		return answer(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || form.Get("Version") != "2011-01-01" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return answer(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("want a form POST to / of Version 2011-01-01, got %s %s %q", r.Method, r.URL.Path, body))
	}
	if form.Get("Action") != "CompleteLifecycleAction" {
		return answer(http.StatusBadRequest, "InvalidAction", "the stand-in answers only CompleteLifecycleAction")
	}
	if s.failNext > 0 {
		s.failNext--
		return answer(http.StatusServiceUnavailable, "ServiceUnavailable", "injected failure")
	}
	a := LifecycleAction{Group: form.Get("AutoScalingGroupName"), Hook: form.Get("LifecycleHookName"), InstanceID: form.Get("InstanceId")}
	result := form.Get("LifecycleActionResult")
	if result != "CONTINUE" && result != "ABANDON" {
		return answer(http.StatusBadRequest, "ValidationError", fmt.Sprintf("LifecycleActionResult %q: want CONTINUE or ABANDON", result))
	}
	if !s.waiting[a] {
		return answer(http.StatusBadRequest, "ValidationError", "No active Lifecycle Action found with instance ID "+a.InstanceID)
	}
	delete(s.waiting, a)
	s.results[a] = result
	return answer(http.StatusOK, "", "")
}

// Launch puts an instance in Pending:Wait under a hook of a group: its
// lifecycle action can then be completed once.
func (s *AutoScalingServer) Launch(a LifecycleAction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[a] = true
}

// Result returns the result a's action was completed with, "" while it
// was not.
func (s *AutoScalingServer) Result(a LifecycleAction) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results[a]
}

// FailNext makes the next n well-formed, signed requests fail with 503
// ServiceUnavailable (which clients retry).
func (s *AutoScalingServer) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Calls returns the requests received so far, in order.
func (s *AutoScalingServer) Calls() []AutoScalingCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AutoScalingCall(nil), s.calls...)
}

// lastSignatureErr is why the last request failed the SigV4 check, for
// the test's log.
func (s *AutoScalingServer) lastSignatureErr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return ""
	}
	return s.calls[len(s.calls)-1].SignatureErr
}
