package lifecycle

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

const (
	testRegion   = "eu-west-3"
	testGroup    = "web-asg"
	testHook     = "debfleet-launch"
	testInstance = "i-0123456789abcdef0"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDLIFECYCLETEST", SecretAccessKey: "lifecycle-secret-key", SessionToken: "lifecycle-session-token"}

// standIns starts the Auto Scaling and instance metadata stand-ins and
// points the SDK's default chain at them through the environment, as on
// an instance: static credentials here instead of the instance role.
func standIns(t *testing.T, metadata map[string]string) (*testenv.AutoScalingServer, *testenv.IMDSServer) {
	t.Helper()
	as := testenv.AutoScaling(t, testCreds, testRegion)
	md := testenv.IMDS(t, metadata)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": testCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": testCreds.SecretAccessKey,
		"AWS_SESSION_TOKEN": testCreds.SessionToken, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "",
		"AWS_ENDPOINT_URL_AUTO_SCALING": as.URL, "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.URL, "AWS_EC2_METADATA_DISABLED": "",
	} {
		t.Setenv(k, v)
	}
	return as, md
}

var instanceMetadata = map[string]string{
	"instance-id": testInstance,
	"tags/instance/aws:autoscaling:groupName": testGroup,
	"placement/region":                        testRegion,
}

// TestComplete: the request the SDK sends for each result, checked by the
// stand-in: action, form parameters, SigV4 with the credentials of the
// default chain for service autoscaling in the instance's region.
func TestComplete(t *testing.T) {
	for _, result := range []Result{Continue, Abandon} {
		t.Run(string(result), func(t *testing.T) {
			as, _ := standIns(t, map[string]string{"placement/region": testRegion})
			action := testenv.LifecycleAction{Group: testGroup, Hook: testHook, InstanceID: testInstance}
			as.Launch(action)
			h, err := New(t.Context(), Options{Action: Action{Hook: testHook, Group: testGroup, InstanceID: testInstance}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Complete(t.Context(), result); err != nil {
				t.Fatal(err)
			}
			calls := as.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1: %+v", len(calls), calls)
			}
			c := calls[0]
			if c.SignatureErr != "" || c.Status != http.StatusOK {
				t.Fatalf("call answered %d: %s", c.Status, c.SignatureErr)
			}
			want := map[string]string{"Action": "CompleteLifecycleAction", "Version": "2011-01-01", "AutoScalingGroupName": testGroup,
				"LifecycleHookName": testHook, "InstanceId": testInstance, "LifecycleActionResult": string(result)}
			for k, v := range want {
				if got := c.Form[k]; len(got) != 1 || got[0] != v {
					t.Errorf("form %s = %q, want %q", k, got, v)
				}
			}
			if len(c.Form) != len(want) {
				t.Errorf("form %v has more than %v", c.Form, want)
			}
			if got := as.Result(action); got != string(result) {
				t.Errorf("stand-in recorded %q", got)
			}
		})
	}
}

// TestIdentifyFromMetadata: what the flags leave out comes from IMDSv2:
// a token PUT first, then every GET with it (the stand-in refuses one
// without), 4 requests in all.
func TestIdentifyFromMetadata(t *testing.T) {
	as, md := standIns(t, instanceMetadata)
	action := testenv.LifecycleAction{Group: testGroup, Hook: testHook, InstanceID: testInstance}
	as.Launch(action)
	h, err := New(t.Context(), Options{Action: Action{Hook: testHook}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Action(); got != (Action{Hook: testHook, Group: testGroup, InstanceID: testInstance}) {
		t.Errorf("action %+v", got)
	}
	if err := h.Complete(t.Context(), Continue); err != nil {
		t.Fatal(err)
	}
	if as.Result(action) != "CONTINUE" {
		t.Error("action not completed")
	}
	reqs := md.Requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Path)
		if r.Status != http.StatusOK || (r.Method == http.MethodGet && !r.Token) {
			t.Errorf("%s %s: token %v, status %d", r.Method, r.Path, r.Token, r.Status)
		}
	}
	want := []string{"PUT /latest/api/token", "GET /latest/meta-data/instance-id",
		"GET /latest/meta-data/tags/instance/aws:autoscaling:groupName", "GET /latest/meta-data/placement/region"}
	if !slices.Equal(got, want) {
		t.Errorf("IMDS requests:\n got %q\nwant %q", got, want)
	}
}

// TestIMDSStandInRefusesV1: the stand-in refuses IMDSv1's tokenless GET,
// so the passing tests above prove the token flow.
func TestIMDSStandInRefusesV1(t *testing.T) {
	md := testenv.IMDS(t, instanceMetadata)
	for _, token := range []string{"", "not-the-token"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, md.URL+"/latest/meta-data/instance-id", nil)
		if token != "" {
			req.Header.Set("X-aws-ec2-metadata-token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET with token %q: %d, want 401", token, resp.StatusCode)
		}
	}
}

// TestHookErrors: what cannot work fails with an error that says what to
// do, before any install (New) or when completing.
func TestHookErrors(t *testing.T) {
	noTags := map[string]string{"instance-id": testInstance, "placement/region": testRegion}
	tests := []struct {
		name     string
		metadata map[string]string
		env      map[string]string
		action   Action
		launch   bool
		fail     int // FailNext
		newErr   error
		errText  string
		calls    int // Auto Scaling requests expected
	}{
		{name: "no metadata tags", metadata: noTags, action: Action{Hook: testHook}, newErr: ErrNoGroupTag, errText: "instance metadata tags are not enabled"},
		{name: "metadata disabled", metadata: instanceMetadata, env: map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}, action: Action{Hook: testHook}, errText: "read the instance ID"},
		{name: "bad hook name", action: Action{Hook: "has space"}, errText: "lifecycle hook name"},
		{name: "bad instance ID", action: Action{Hook: testHook, InstanceID: "web-1"}, errText: `instance ID "web-1"`},
		{name: "bad instance ID from metadata", metadata: map[string]string{"instance-id": "i-../../x", "tags/instance/aws:autoscaling:groupName": testGroup, "placement/region": testRegion},
			action: Action{Hook: testHook}, errText: "instance metadata: instance ID"},
		{name: "insecure endpoint", metadata: instanceMetadata, env: map[string]string{"AWS_ENDPOINT_URL_AUTO_SCALING": "http://10.1.2.3:8080"}, action: Action{Hook: testHook}, newErr: release.ErrInsecureEndpoint},
		{name: "no waiting action", metadata: instanceMetadata, action: Action{Hook: testHook}, errText: "no lifecycle action is waiting", calls: 1},
		{name: "wrong credentials", metadata: instanceMetadata, env: map[string]string{"AWS_SECRET_ACCESS_KEY": "another-secret"}, action: Action{Hook: testHook}, launch: true, errText: "SignatureDoesNotMatch", calls: 1},
		{name: "retries bounded", metadata: instanceMetadata, action: Action{Hook: testHook}, launch: true, fail: 100, errText: "ServiceUnavailable", calls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, _ := standIns(t, tt.metadata)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.launch {
				as.Launch(testenv.LifecycleAction{Group: testGroup, Hook: testHook, InstanceID: testInstance})
			}
			as.FailNext(tt.fail)
			h, err := New(t.Context(), Options{Action: tt.action, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				err = h.Complete(t.Context(), Continue)
				if tt.errText == "no lifecycle action is waiting" && !errors.Is(err, ErrNoActiveAction) {
					t.Errorf("error %v is not ErrNoActiveAction", err)
				}
			}
			if err == nil || (tt.newErr != nil && !errors.Is(err, tt.newErr)) || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %v; want %v containing %q", err, tt.newErr, tt.errText)
			}
			if strings.Contains(err.Error(), testCreds.SecretAccessKey) || strings.Contains(err.Error(), testCreds.SessionToken) {
				t.Errorf("error shows credentials: %v", err)
			}
			if n := len(as.Calls()); n != tt.calls {
				t.Errorf("%d Auto Scaling requests, want %d", n, tt.calls)
			}
		})
	}
}
