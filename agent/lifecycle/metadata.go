package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Instance metadata paths under /latest/meta-data/.
const (
	pathInstanceID = "instance-id"
	pathGroupTag   = "tags/instance/aws:autoscaling:groupName"
	pathRegion     = "placement/region"
)

// Bounds of one metadata read: attempts (the SDK's standard retryer, its
// backoff capped at 1 s by the imds client), each attempt's own limits
// (the imds client's 250 ms dial, 500 ms response header and 5 s per
// operation), the deadline of all reads together, and the bytes read.
const (
	metadataAttempts = 3
	metadataTimeout  = 20 * time.Second
	maxMetadataBytes = 1024
)

// ErrNoGroupTag: the instance's metadata has no tag
// aws:autoscaling:groupName, because the launch template does not enable
// instance metadata tags (MetadataOptions InstanceMetadataTags=enabled),
// or the instance is not in an Auto Scaling group.
var ErrNoGroupTag = errors.New("the instance metadata has no tag aws:autoscaling:groupName (instance metadata tags are not enabled in the launch template, or the instance is in no Auto Scaling group)")

// Metadata is what New needs of the instance metadata service;
// *imds.Client satisfies it. GetMetadata returns the content of a path
// under /latest/meta-data/, or an error that carries the HTTP status
// (smithy-go's HTTPStatusCode) when the service answered one.
type Metadata interface {
	GetMetadata(ctx context.Context, in *imds.GetMetadataInput, optFns ...func(*imds.Options)) (*imds.GetMetadataOutput, error)
}

// NewMetadata returns the SDK's instance metadata client, IMDSv2 only: it
// never falls back to IMDSv1's unauthenticated GETs when no session token
// can be had. AWS_EC2_METADATA_SERVICE_ENDPOINT names another endpoint;
// AWS_EC2_METADATA_DISABLED=true disables it.
func NewMetadata() *imds.Client {
	return imds.New(imds.Options{
		EnableFallback: aws.FalseTernary,
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = metadataAttempts
		}),
	})
}

// identify fills what h's action and region leave out from md.
func (h *Hook) identify(ctx context.Context, md Metadata) error {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	var err error
	if h.action.InstanceID == "" {
		if h.action.InstanceID, err = readMetadata(ctx, md, pathInstanceID); err != nil {
			return fmt.Errorf("read the instance ID: %w", err)
		}
	}
	if h.action.Group == "" {
		h.action.Group, err = readMetadata(ctx, md, pathGroupTag)
		if statusCode(err) == 404 {
			err = ErrNoGroupTag
		}
		if err != nil {
			return fmt.Errorf("read the Auto Scaling group's name: %w", err)
		}
	}
	if h.region == "" && h.api == nil {
		if h.region, err = readMetadata(ctx, md, pathRegion); err != nil {
			return fmt.Errorf("read the instance's region: %w", err)
		}
	}
	if err := checkIdentity(h.action.Group, h.action.InstanceID, h.region); err != nil {
		return fmt.Errorf("instance metadata: %w", err)
	}
	h.log.Info("lifecycle action identified from instance metadata", "group", h.action.Group, "instance_id", h.action.InstanceID, "region", h.region)
	return nil
}

// readMetadata reads one path, at most maxMetadataBytes of it.
func readMetadata(ctx context.Context, md Metadata, path string) (string, error) {
	out, err := md.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("instance metadata %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, maxMetadataBytes+1))
	if err != nil {
		return "", fmt.Errorf("instance metadata %s: %w", path, err)
	}
	if len(b) > maxMetadataBytes {
		return "", fmt.Errorf("instance metadata %s: longer than %d bytes", path, maxMetadataBytes)
	}
	return strings.TrimSpace(string(b)), nil
}

// statusCode is the HTTP status an error carries, 0 if none.
func statusCode(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

var (
	instanceID = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+){2,3}$`)
)

// checkIdentity checks the names given, each of which may be empty: they
// go into an API request and every log line.
func checkIdentity(group, id, region string) error {
	if id != "" && !instanceID.MatchString(id) {
		return fmt.Errorf("instance ID %q: want i- and 8 or 17 hex digits", id)
	}
	if region != "" && !regionName.MatchString(region) {
		return fmt.Errorf("region %q: want a name such as us-east-1", region)
	}
	if len(group) > 255 {
		return fmt.Errorf("the Auto Scaling group name of %d bytes: at most 255", len(group))
	}
	for _, r := range group {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("the Auto Scaling group name %q: control characters", group)
		}
	}
	return nil
}
