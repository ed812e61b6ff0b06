package main

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

// lazyAlarms is the agent's CloudWatch client (agent.Alarms), made from
// the S3 client's AWS configuration (credentials, region, retries) the
// first time a release's rollout gate names an alarm: an agent whose
// releases have no alarm gate never makes one, and never calls
// CloudWatch.
type lazyAlarms struct {
	cfg     aws.Config
	once    sync.Once
	client  *cloudwatch.Client
	options []func(*cloudwatch.Options)
}

// DescribeAlarms makes the client if needed and calls its DescribeAlarms.
func (l *lazyAlarms) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	l.once.Do(func() { l.client = cloudwatch.NewFromConfig(l.cfg, l.options...) })
	return l.client.DescribeAlarms(ctx, in, optFns...)
}
