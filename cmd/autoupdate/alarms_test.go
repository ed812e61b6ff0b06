package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/debfleet/debfleet/release"
)

// TestAlarmsFromS3Config: the agent's CloudWatch client signs with the
// S3 client's credentials and region, and exists only once used.
func TestAlarmsFromS3Config(t *testing.T) {
	var requests atomic.Int32
	var auth atomic.Value
	auth.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(cbor.Encode(cbor.Map{"MetricAlarms": cbor.List{cbor.Map{"AlarmName": cbor.String("api-5xx"), "StateValue": cbor.String("OK")}}}))
	}))
	defer srv.Close()
	c, err := release.New(t.Context(), release.Options{Endpoint: "http://127.0.0.1:1", Region: "eu-west-3",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDAGENT", "agent-secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	l := &lazyAlarms{cfg: c.AWSConfig(), options: []func(*cloudwatch.Options){func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(srv.URL) }}}
	if l.client != nil || requests.Load() != 0 {
		t.Fatal("the CloudWatch client exists before any alarm gate")
	}
	out, err := l.DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"api-5xx"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != "OK" {
		t.Errorf("answer %+v", out.MetricAlarms)
	}
	if a := auth.Load().(string); !strings.Contains(a, "Credential=AKIDAGENT/") || !strings.Contains(a, "/eu-west-3/monitoring/aws4_request") {
		t.Errorf("DescribeAlarms signed as %q; want the S3 client's credentials and region", a)
	}
}
