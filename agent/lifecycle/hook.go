package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/debfleet/debfleet/internal/loopback"
	"github.com/debfleet/debfleet/release"
)

// Bounds of the Auto Scaling call: attempts (the SDK's standard retryer:
// throttling, 5xx and connection errors), the longest backoff between
// them, the dial timeout of each, and the whole call's deadline.
const (
	apiAttempts    = 3
	apiMaxBackoff  = 2 * time.Second
	apiDialTimeout = 5 * time.Second
	// CompleteTimeout bounds Complete, retries included.
	CompleteTimeout = 30 * time.Second
)

// ErrNoActiveAction: Auto Scaling has no lifecycle action waiting for this
// instance under this hook and group: the hook's heartbeat timeout passed
// (and its DefaultResult applied), the action was completed already, or
// the instance is not in Pending:Wait (it was not launched with the hook).
var ErrNoActiveAction = errors.New("no lifecycle action is waiting for this instance")

// Action names one lifecycle action: a hook of a group, for an instance.
type Action struct {
	// Hook is the lifecycle hook's name.
	Hook string
	// Group is the Auto Scaling group's name; "" reads the instance's
	// tag aws:autoscaling:groupName from instance metadata.
	Group string
	// InstanceID is the EC2 instance ID (i-0123456789abcdef0); "" reads
	// it from instance metadata.
	InstanceID string
}

// API is what a Hook needs of the Auto Scaling API;
// *autoscaling.Client satisfies it. CompleteLifecycleAction completes the
// action its input names with the input's result, or fails; a Hook calls
// it once per Complete, so retries are the client's own.
type API interface {
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
}

// Options configures New.
type Options struct {
	// Action names the lifecycle action; Hook is required, and what
	// else is empty is read from instance metadata.
	Action Action
	// Region is the group's region; "" reads the instance's (a group's
	// instances run in its region) from instance metadata.
	Region string
	// AllowInsecureEndpoint allows a plain http:// Auto Scaling endpoint
	// (AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL) off loopback;
	// otherwise New refuses it with release.ErrInsecureEndpoint, since
	// requests carry the instance role's session token.
	AllowInsecureEndpoint bool
	// Metadata reads instance metadata; nil uses NewMetadata().
	Metadata Metadata
	// API completes the action; nil builds the SDK's client with the
	// default credential chain and Region.
	API API
	// Logger receives one line per step; default slog.Default().
	Logger *slog.Logger
}

// Hook completes one lifecycle action.
type Hook struct {
	action Action
	region string
	api    API
	log    *slog.Logger
}

// hookName is Auto Scaling's rule for lifecycle hook names.
var hookName = regexp.MustCompile(`^[A-Za-z0-9_./-]{1,255}$`)

// New checks o, reads from instance metadata what o leaves out and builds
// the Auto Scaling client, before anything is installed: a server that
// cannot complete its lifecycle action should say so at once.
func New(ctx context.Context, o Options) (*Hook, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := Check(o.Action, o.Region); err != nil {
		return nil, err
	}
	h := &Hook{action: o.Action, region: o.Region, api: o.API, log: o.Logger}
	if h.action.Group == "" || h.action.InstanceID == "" || (h.region == "" && h.api == nil) {
		md := o.Metadata
		if md == nil {
			md = NewMetadata()
		}
		if err := h.identify(ctx, md); err != nil {
			return nil, err
		}
	}
	if h.api == nil {
		api, err := newAPI(ctx, h.region, o.AllowInsecureEndpoint)
		if err != nil {
			return nil, err
		}
		h.api = api
	}
	h.log = h.log.With("lifecycle_hook", h.action.Hook, "group", h.action.Group, "instance_id", h.action.InstanceID)
	return h, nil
}

// Check checks the names of a and region as given (Group, InstanceID and
// region may be empty), as New does first: they go into an API request
// and every log line.
func Check(a Action, region string) error {
	if !hookName.MatchString(a.Hook) {
		return fmt.Errorf("lifecycle hook name %q: want 1 to 255 letters, digits, '-', '_', '.' or '/'", a.Hook)
	}
	return checkIdentity(a.Group, a.InstanceID, region)
}

// Action returns the action h completes.
func (h *Hook) Action() Action { return h.action }

// Complete completes the lifecycle action with result: one
// CompleteLifecycleAction, retried by the client on throttling and server
// errors, within CompleteTimeout. Auto Scaling's answer that no action
// waits is ErrNoActiveAction.
func (h *Hook) Complete(ctx context.Context, result Result) error {
	if result != Continue && result != Abandon {
		return fmt.Errorf("lifecycle action result %q: want %s or %s", result, Continue, Abandon)
	}
	ctx, cancel := context.WithTimeout(ctx, CompleteTimeout)
	defer cancel()
	_, err := h.api.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(h.action.Group),
		LifecycleHookName:     aws.String(h.action.Hook),
		InstanceId:            aws.String(h.action.InstanceID),
		LifecycleActionResult: aws.String(string(result)),
	})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "No active Lifecycle Action") {
			err = fmt.Errorf("%w (its heartbeat timeout may have passed, and its default result applied): %w", ErrNoActiveAction, err)
		}
		return fmt.Errorf("complete lifecycle action of hook %s, group %s, instance %s with %s: %w",
			h.action.Hook, h.action.Group, h.action.InstanceID, result, err)
	}
	h.log.Info("lifecycle action completed", "result", string(result))
	return nil
}

// newAPI builds the SDK's Auto Scaling client for region with bounded
// retries, refusing a plain http:// endpoint off loopback unless allowed.
func newAPI(ctx context.Context, region string, allowInsecure bool) (*autoscaling.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Timeout = apiDialTimeout })),
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = apiAttempts
				so.MaxBackoff = apiMaxBackoff
			})
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for Auto Scaling: %w", err)
	}
	var endpoint string
	c := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		if o.BaseEndpoint != nil {
			endpoint = *o.BaseEndpoint
		}
	})
	if !allowInsecure && loopback.PlainHTTPOff(endpoint) {
		return nil, fmt.Errorf("the Auto Scaling endpoint %s (from AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL or the shared config): %w: requests and the session token would travel unencrypted",
			endpoint, release.ErrInsecureEndpoint)
	}
	return c, nil
}
