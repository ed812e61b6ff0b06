package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/debfleet/debfleet/fleet"
)

// StateGated: the release's rollout gate holds this host (see fleet.Gate).
const StateGated = fleet.StateGated

// Bounds of one gate check.
const (
	// gateTimeout bounds one check of a gate (its alarm and its URL
	// together, the SDK's retries included): a gate that does not answer
	// in time holds the host, as a failing one does.
	gateTimeout = 15 * time.Second
	// maxGateBody is how much of a gate URL's answer is read (and
	// dropped, so that the connection can be reused): the status is
	// the answer.
	maxGateBody = 4 << 10
)

// gate decides whether r's gate lets this host adopt the release at now:
// Adopt when r has no gate or the first wave is in force (no request),
// else what the gate answered, asked at most as fleet.GateCheck.Due
// allows and remembered for the next polls.
func (a *Agent) gate(ctx context.Context, r *fleet.Rollout, now time.Time) fleet.Decision {
	if d, due := a.gateCheck.Due(r, now); !due {
		return d
	}
	d, answered := a.checkGate(ctx, r.Gate)
	a.gateCheck = &fleet.GateCheck{SHA256: r.SHA256, Wave: r.WaveAt(now).Index, At: now, Decision: d, Answered: answered}
	if d.Verdict == fleet.Adopt {
		a.log.Info("rollout gate passed", "sha256", r.SHA256, "wave", r.WaveAt(now).String(), "gate", r.Gate.String())
	}
	return d
}

// checkGate asks g: its alarm first, then its URL, stopping at the first
// that holds the host. answered is false when the one that decided gave
// no answer (see fleet.GateRetry).
func (a *Agent) checkGate(ctx context.Context, g fleet.Gate) (d fleet.Decision, answered bool) {
	ctx, cancel := context.WithTimeout(ctx, gateTimeout)
	defer cancel()
	if g.Alarm != "" {
		state, err := a.alarmState(ctx, g.Alarm)
		if d := fleet.AlarmDecision(g.Alarm, state, err); d.Verdict != fleet.Adopt {
			return d, err == nil
		}
	}
	if g.URL != "" {
		status, err := a.getGate(ctx, g.URL)
		return fleet.URLDecision(g.URL, status, err), err == nil
	}
	return fleet.Decision{Verdict: fleet.Adopt}, true
}

// alarmState reads the state of the CloudWatch alarm named name, of any
// type: one DescribeAlarms request (the SDK retries throttling). It
// returns "" when there is no such alarm.
func (a *Agent) alarmState(ctx context.Context, name string) (string, error) {
	if a.cfg.Alarms == nil {
		return "", errors.New("this agent has no CloudWatch client")
	}
	out, err := a.cfg.Alarms.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{name},
		// Without AlarmTypes, CloudWatch answers with metric alarms only.
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm, types.AlarmTypeLogAlarm},
	})
	if err != nil {
		return "", fmt.Errorf("CloudWatch DescribeAlarms: %s", fleet.OneLine(err.Error(), 300))
	}
	for _, m := range out.MetricAlarms {
		if m.AlarmName != nil && *m.AlarmName == name {
			return string(m.StateValue), nil
		}
	}
	for _, c := range out.CompositeAlarms {
		if c.AlarmName != nil && *c.AlarmName == name {
			return string(c.StateValue), nil
		}
	}
	for _, l := range out.LogAlarms {
		if l.AlarmName != nil && *l.AlarmName == name {
			return string(l.StateValue), nil
		}
	}
	return "", nil
}

// getGate sends one GET to the gate URL u and returns the status it
// answered. Redirects are not followed (the gate must answer 200
// itself), at most maxGateBody bytes of the answer are read, and an
// error never contains u, whose query may carry a token.
func (a *Agent) getGate(ctx context.Context, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, errors.New("the URL does not parse")
	}
	req.Header.Set("User-Agent", "debfleet-autoupdate (rollout gate)")
	resp, err := a.gateHTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %v", gateTimeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, maxGateBody)
	return resp.StatusCode, nil
}

// newGateHTTP is the client gate URLs are asked with: no redirect is
// followed (one could lead anywhere, plain http:// included).
func newGateHTTP() *http.Client {
	return &http.Client{
		Timeout:       gateTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
