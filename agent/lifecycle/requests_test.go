package lifecycle

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestRequestsPerBoot pins what completing the action costs one server
// at boot when its credentials are the instance role's, as on EC2: the
// instance metadata requests (IMDSv2: a token, then the instance ID, the
// group tag and the region; the credential chain's own token, role name
// and role credentials) and one Auto Scaling request.
func TestRequestsPerBoot(t *testing.T) {
	creds, _ := json.Marshal(map[string]string{"Code": "Success", "AccessKeyId": testCreds.AccessKeyID,
		"SecretAccessKey": testCreds.SecretAccessKey, "Token": testCreds.SessionToken,
		"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	md := map[string]string{"iam/security-credentials/": "web-role", "iam/security-credentials/web-role": string(creds)}
	for k, v := range instanceMetadata {
		md[k] = v
	}
	as, imds := standIns(t, md)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	as.Launch(testenv.LifecycleAction{Group: testGroup, Hook: testHook, InstanceID: testInstance})
	h, err := New(t.Context(), Options{Action: Action{Hook: testHook}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Complete(t.Context(), Continue); err != nil {
		t.Fatal(err)
	}
	reqs := imds.Requests()
	for _, r := range reqs {
		t.Logf("IMDS %s %s: %d", r.Method, r.Path, r.Status)
	}
	if len(reqs) != 7 || len(as.Calls()) != 1 {
		t.Errorf("%d IMDS and %d Auto Scaling requests; want 7 and 1", len(reqs), len(as.Calls()))
	}
}
