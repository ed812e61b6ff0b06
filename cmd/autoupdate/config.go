package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/agent/lifecycle"
	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/notify"
	"github.com/debfleet/debfleet/release"
	"github.com/debfleet/debfleet/restart"
)

// DefaultEnvFile is read when --env-file is not given; a missing file is
// fine there (and only there).
const DefaultEnvFile = "/etc/default/autoupdate"

// envPrefix turns a flag name into its environment name:
// --health-url is AUTOUPDATE_HEALTH_URL.
const envPrefix = "AUTOUPDATE_"

// Bounds of --lease-ttl: the slot is renewed every third of it, and no
// lease may outlast the fleet's cap.
const (
	minLeaseTTL = 3 * time.Second
	maxLeaseTTL = fleet.MaxLeaseTTL
)

// config is the parsed, validated command line.
type config struct {
	EnvFile       string
	Source        release.Address
	Endpoint      string
	Insecure      bool
	Region        string
	Interval      time.Duration
	Jitter        time.Duration
	StateDir      string
	Package       string
	PIDFile       string
	ServiceUnit   string
	Signal        syscall.Signal
	ReloadCmd     string
	HealthURL     string
	HealthTimeout time.Duration
	ExpectVersion string
	Splay         time.Duration
	PublicKeys    []string
	AllowUnsigned bool
	Host          string
	Report        bool
	Heartbeat     time.Duration
	LeaseTTL      time.Duration
	Once          bool
	DpkgRoot      string
	MetricsAddr   string
	LogFormat     string
	NotifyURL     string
	// Lifecycle names the EC2 Auto Scaling launch lifecycle action that
	// --once completes (Hook ""; none); LifecycleRegion is its group's
	// region ("": the instance's).
	Lifecycle       lifecycle.Action
	LifecycleRegion string
	HoldFile        string
	HoldURL         string
	MaxHold         time.Duration
	// Config is the config channel (--config-source); Config.Source is
	// nil without one.
	Config configChannel
}

// flags holds the raw flag values before validation.
type flags struct {
	envFile, source, endpoint, region, stateDir, pkg, pidFile, signal string
	reloadCmd, healthURL, expectVersion, host, dpkgRoot, metricsAddr  string
	logFormat, jitter, serviceUnit, notifyURL, holdFile, holdURL      string
	lifecycleHook, lifecycleGroup, lifecycleInstance, lifecycleRegion string
	interval, healthTimeout, splay, heartbeat, leaseTTL, maxHold      time.Duration
	publicKeys                                                        cli.Strings
	report, once, insecure, allowUnsigned                             bool
	config                                                            configFlags
}

func newFlagSet(stderr io.Writer) (*flag.FlagSet, *flags) {
	f := &flags{}
	fs := flag.NewFlagSet("autoupdate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.envFile, "env-file", "", "read KEY=VALUE settings from `file` (default "+DefaultEnvFile+", if it exists)")
	fs.StringVar(&f.source, "source", "", "the release channel, `s3://bucket/key` (required)")
	fs.StringVar(&f.endpoint, "endpoint", "", "S3-compatible endpoint `URL` (default: AWS, or AWS_ENDPOINT_URL_S3)")
	fs.BoolVar(&f.insecure, "insecure-endpoint", false, "allow a plain http:// endpoint (--endpoint or AWS_ENDPOINT_URL_S3) that is not on loopback, e.g. http://10.0.0.5:9000: requests and packages then cross the network unencrypted")
	fs.StringVar(&f.region, "region", "", "AWS `region` of the bucket, and of the CloudWatch alarm a release's rollout gate names (default: the SDK's, else us-east-1)")
	fs.DurationVar(&f.interval, "interval", 10*time.Second, "how often to check the channel")
	fs.StringVar(&f.jitter, "jitter", "", "random spread of each interval, +/- this `duration` (default 20% of --interval)")
	fs.StringVar(&f.stateDir, "state-dir", "/var/lib/autoupdate", "private `directory` for the agent's state and kept packages")
	fs.StringVar(&f.pkg, "package", "", "the package `name` the channel must contain (required)")
	fs.StringVar(&f.pidFile, "pidfile", "", "the service's PID `file`: signalled to restart, and a new PID in it proves the restart")
	fs.StringVar(&f.serviceUnit, "service-unit", "", "the systemd `unit` the service runs in (e.g. hello.service): a PID from --pidfile is signalled, or proves a restart, only if its process is in that unit (default: in the cgroup of the first PID trusted)")
	fs.StringVar(&f.signal, "signal", "HUP", "`signal` sent to the PID in --pidfile to restart the service")
	fs.StringVar(&f.reloadCmd, "reload-cmd", "", "restart the service by running this shell `command` instead of signalling")
	fs.StringVar(&f.healthURL, "health-url", "", "`URL` that must answer 200 after a restart")
	fs.DurationVar(&f.healthTimeout, "health-timeout", 30*time.Second, "how long the service has to prove healthy after a restart")
	fs.StringVar(&f.expectVersion, "expect-version", "", "`URL` that must answer the new package version after a restart (e.g. http://127.0.0.1:8080/version)")
	fs.DurationVar(&f.splay, "splay", 0, "random delay up to this `duration` before restarting, so hosts do not restart together")
	fs.Var(&f.publicKeys, "public-key", "accept only releases signed by this ed25519 public key `file`, for this channel (repeatable: any one of them; required unless --allow-unsigned)")
	fs.BoolVar(&f.allowUnsigned, "allow-unsigned", false, "follow unsigned releases, including plain .debs uploaded by any S3 client: whoever can write to the channel's key then runs code as root on this server")
	fs.StringVar(&f.host, "host", "", "this server's `name` in status objects (default the hostname)")
	fs.BoolVar(&f.report, "report", true, "write a status object next to the release (<key>.status/<host>.json)")
	fs.DurationVar(&f.heartbeat, "heartbeat", 10*time.Minute, "rewrite the status object at least this often")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", agent.DefaultLeaseTTL, "how long an update slot of a release with --max-updating or --halt-after stays taken without renewal: a host that dies while updating blocks its slot this long")
	fs.BoolVar(&f.once, "once", false, "check once, install if needed, then exit (cloud-init, cron)")
	fs.StringVar(&f.dpkgRoot, "dpkg-root", "", "run dpkg against this sandbox root `directory` (tests, demos)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this `address` (e.g. 127.0.0.1:9100)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&f.notifyURL, "notify-url", "", "POST a JSON message to this webhook `URL` (e.g. a Slack or Mattermost incoming webhook) when this host fails, rolls back or refuses a release; https:// unless on loopback or with --insecure-endpoint")
	fs.StringVar(&f.lifecycleHook, "lifecycle-hook", "", "with --once: complete this EC2 Auto Scaling launch lifecycle hook's action when done, CONTINUE if the release runs healthy, ABANDON otherwise (see LIFECYCLE HOOKS below)")
	fs.StringVar(&f.lifecycleGroup, "lifecycle-group", "", "the Auto Scaling group `name` for --lifecycle-hook (default: the instance's tag aws:autoscaling:groupName, from instance metadata)")
	fs.StringVar(&f.lifecycleInstance, "lifecycle-instance-id", "", "the EC2 instance `ID` for --lifecycle-hook (default: from instance metadata)")
	fs.StringVar(&f.lifecycleRegion, "lifecycle-region", "", "the Auto Scaling group's `region` for --lifecycle-hook (default: the instance's, from instance metadata)")
	fs.StringVar(&f.holdFile, "hold-file", "", "while this `file` exists, the service holds its update; its first line says why (e.g. /run/hello/hold, in a directory the service's user cannot replace)")
	fs.StringVar(&f.holdURL, "hold-url", "", "ask this `URL` before each update: 423 holds it (the body's first line says why), 200 or 404 lets it go (e.g. http://127.0.0.1:8080/hold)")
	fs.DurationVar(&f.maxHold, "max-hold", agent.DefaultMaxHold, "how long the service may hold one update; then it goes ahead anyway, and the log and status say so")
	fs.StringVar(&f.config.source, "config-source", "", "also follow this config channel, `s3://bucket/key` (published with pkgdeb, kind config, for --package): each new config is written to --config-path and the service restarted and health-checked as for a package, with the same rollout, signatures and rollback (see CONFIG CHANNEL below)")
	fs.StringVar(&f.config.path, "config-path", "", "the `file` --config-source manages, e.g. /etc/default/hello (absolute; its directory must exist)")
	fs.StringVar(&f.config.mode, "config-mode", "", "octal permission `bits` of --config-path (default 0640)")
	fs.StringVar(&f.config.group, "config-group", "", "the group `name` or number owning --config-path (default root's), e.g. the service's, so it can read a 0640 file")
	fs.Usage = func() { usage(fs) }
	return fs, f
}

// usageText is what --help prints before the flags.
const usageText = `Usage: autoupdate --source s3://bucket/key --package NAME [flags]
       autoupdate supervise [flags] [--] PROGRAM [ARGS...]   (see its --help)

autoupdate runs on every server. It checks a release channel (one key in a
versioned S3 bucket, written by "pkgdeb publish") every interval with a
conditional HEAD, downloads a new release pinned to its VersionId, verifies
its size, SHA-256, signature and control fields, installs it with dpkg,
restarts the service and waits for proof of health. A release that fails
is rolled back locally and never retried on this host.

Releases must be signed for the channel by a key given with --public-key
(pkgdeb keygen makes one, pkgdeb publish --sign-key signs); --allow-unsigned
follows unsigned releases instead, plain .debs uploaded with "aws s3 cp" or
the S3 console included (their package name, version and architecture are
read from the .deb). Choose one: the agent does not start without either.

Every flag can also be set in the environment or in the --env-file as
AUTOUPDATE_<FLAG> (upper case, - as _), e.g. AUTOUPDATE_SOURCE=s3://b/k or
AUTOUPDATE_PUBLIC_KEY="a.pub b.pub". The command line wins over the
environment, which wins over the file.

A service can say "not now": while --hold-file exists, or while --hold-url
answers 423 Locked, the agent leaves the channel's release for later and
reports the host "held", with the file's first line or the answer's body
as the reason. It asks before it commits to an update (before taking an
update slot and downloading), at every poll: an install once started
runs to its end. 200 or 404 from the URL, or nothing listening there (the
service is not running), lets the update go; a timeout or any other
answer holds it, since a service too busy to answer is the one not to
restart. No hold lasts longer than --max-hold (default 30m): then the
update goes ahead, and the log and the status object say so.

--notify-url posts this host's own failures, rollbacks and refusals (the
events no CI is watching for) to a webhook, as JSON with a "text" field
that Slack and Mattermost show as is: what the status object says, no
more. Posting never delays an install: messages queue (at most 32), each
is tried 3 times, 5s each, and failures are only logged. The URL is a
secret: put it in the env file (AUTOUPDATE_NOTIFY_URL), not on the command
line; it is logged as its host only, and kept from dpkg, maintainer
scripts and the reload command.

A release published with a rollout gate (pkgdeb publish --gate-url URL,
--gate-alarm NAME) is adopted in any wave after the first only once the
gate passes: the URL answers 200 itself (15s at most, no redirect
followed), the CloudWatch alarm NAME is OK in --region (read with the S3
credentials; needs cloudwatch:DescribeAlarms on it, see docs/iam-agent.json).
Anything else holds the host on its release in state "gated", saying why
(never the URL's query). The gate is asked once per wave and, while it
says no, again one wave interval later (a minute later when it gave no
answer); the first wave is never gated.

CONFIG CHANNEL: --config-source follows a second channel whose releases
are configuration files for the service (an environment file its
restart reads again, such as hello's --env-file), published as configs
(manifest kind "config", package --package, at most 1 MiB). The same
checks apply as to packages: signature for that channel, size and
SHA-256, the kind and the service name, the rollout policy (waves,
max-updating, halt-after, windows, gates) and holds. A new config is
written atomically to --config-path (mode and group set before any byte
is written), the service restarted with --pidfile/--signal or
--reload-cmd and checked with --health-url (not --expect-version: a
config changes no version); if it does not prove healthy, the previous
file is put back, the service restarted again, and that config is never
tried again on this host. No value of the file is ever logged, reported
or sent: only its version and SHA-256. The config's state is kept in
--state-dir/config, its status objects at <config key>.status/<host>.json
(so "pkgdeb status s3://.../production.env" shows the fleet's configs),
and the package's status objects name the config too ("config"). A
package that ships --config-path other than as a conffile is refused (dpkg
would overwrite the file); as a conffile, dpkg keeps the managed file
(--force-confold). A package install and a config change that arrive
together restart the service one after the other.

LIFECYCLE HOOKS: in an EC2 Auto Scaling group with a launch lifecycle
hook, a new instance waits in Pending:Wait until its action is completed.
"autoupdate --once --lifecycle-hook NAME" completes it after the run:
CONTINUE when the channel's release is installed and healthy (or already
was), or when its rollout policy leaves it for later (waiting for its
wave or a slot, halted) and the host runs an earlier release; ABANDON,
and the group replaces the instance, when the run failed, rolled back,
refused the release, could not reach the channel, was interrupted, or
left no release installed. The group name comes from the instance's tag
aws:autoscaling:groupName when the launch template enables instance
metadata tags (else give --lifecycle-group), the instance ID and region
from instance metadata (IMDSv2). The instance role needs
autoscaling:CompleteLifecycleAction on the group (docs/iam-agent.json).
Give the hook a heartbeat timeout longer than the install takes, and
DefaultResult ABANDON: an agent that dies before completing then
abandons too. The exit status is 0 only after CONTINUE.

Examples:
  autoupdate --source s3://acme-releases/hello/production.deb --package hello \
    --pidfile /run/hello/hello.pid --health-url http://127.0.0.1:8080/healthz \
    --expect-version http://127.0.0.1:8080/version --public-key /etc/autoupdate/release.pub
  autoupdate --source s3://acme-releases/hello/production.deb --package hello \
    --reload-cmd 'systemctl restart hello' --allow-unsigned
  autoupdate --source s3://acme-releases/hello/production.deb --package hello \
    --pidfile /run/hello/hello.pid --public-key /etc/autoupdate/release.pub \
    --hold-file /run/hello/hold --hold-url http://127.0.0.1:8080/hold --max-hold 1h
  autoupdate --source s3://acme-releases/hello/production.deb --package hello \
    --pidfile /run/hello/hello.pid --health-url http://127.0.0.1:8080/healthz \
    --public-key /etc/autoupdate/release.pub \
    --config-source s3://acme-releases/hello/production.env --config-path /etc/default/hello \
    --config-mode 0640 --config-group hello
  autoupdate --once    # settings from /etc/default/autoupdate
  autoupdate --once --lifecycle-hook debfleet-launch   # first boot in an Auto Scaling group
  autoupdate --env-file /etc/autoupdate/web.conf --state-dir /var/lib/autoupdate/web   # what autoupdate@web.service runs: one agent per service
  AUTOUPDATE_NOTIFY_URL=https://hooks.slack.com/services/T0/B0/XXXX   # in /etc/default/autoupdate

Flags:
`

func usage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), usageText)
	fs.PrintDefaults()
}

// parseConfig parses args, then fills every flag not given on the command
// line from getenv (AUTOUPDATE_*), then from the environment file, and
// validates the result.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fset, f := newFlagSet(stderr)
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, cli.Usagef("unexpected argument %q (all settings are flags)", pos[0])
	}
	set := map[string]bool{}
	fset.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	// The environment first, so that the env file's name can come from it.
	fromEnv := func(name, value, origin string) error {
		if set[name] {
			return nil
		}
		fl := fset.Lookup(name)
		values := []string{value}
		if name == "public-key" {
			values = strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		}
		for _, v := range values {
			if err := fl.Value.Set(v); err != nil {
				return cli.Usagef("%s: invalid value %q for %s: %v", origin, value, envName(name), err)
			}
		}
		set[name] = true
		return nil
	}
	var envErr error
	fset.VisitAll(func(fl *flag.Flag) {
		if v := getenv(envName(fl.Name)); v != "" && envErr == nil {
			envErr = fromEnv(fl.Name, v, "environment")
		}
	})
	if envErr != nil {
		return nil, envErr
	}

	path, explicit := f.envFile, f.envFile != ""
	if !explicit {
		path = DefaultEnvFile
	}
	file, err := os.Open(path)
	switch {
	case err == nil:
		vars, err := restart.ParseEnvFile(file, path)
		file.Close()
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		for _, v := range vars {
			name, ok := flagName(v.Key)
			if !ok || fset.Lookup(name) == nil || name == "env-file" {
				return nil, cli.Usagef("%s:%d: unknown setting %s (want AUTOUPDATE_<FLAG>; see --help)", path, v.Line, v.Key)
			}
			if err := fromEnv(name, v.Value, fmt.Sprintf("%s:%d", path, v.Line)); err != nil {
				return nil, err
			}
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return nil, cli.Usagef("env file: %v", err)
	}
	return f.validate()
}

// envName is the environment name of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func flagName(envKey string) (string, bool) {
	rest, ok := strings.CutPrefix(envKey, envPrefix)
	if !ok || rest == "" {
		return "", false
	}
	return strings.ToLower(strings.ReplaceAll(rest, "_", "-")), true
}

func (f *flags) validate() (*config, error) {
	c := &config{
		EnvFile: f.envFile, Endpoint: f.endpoint, Insecure: f.insecure, Region: f.region, Interval: f.interval,
		StateDir: f.stateDir, Package: f.pkg, PIDFile: f.pidFile, ServiceUnit: f.serviceUnit, ReloadCmd: f.reloadCmd,
		HealthURL: f.healthURL, HealthTimeout: f.healthTimeout, ExpectVersion: f.expectVersion,
		Splay: f.splay, PublicKeys: f.publicKeys, AllowUnsigned: f.allowUnsigned, Host: f.host, Report: f.report,
		Heartbeat: f.heartbeat, LeaseTTL: f.leaseTTL, Once: f.once, DpkgRoot: f.dpkgRoot, MetricsAddr: f.metricsAddr,
		LogFormat: f.logFormat, NotifyURL: f.notifyURL, HoldFile: f.holdFile, HoldURL: f.holdURL, MaxHold: f.maxHold,
		Lifecycle:       lifecycle.Action{Hook: f.lifecycleHook, Group: f.lifecycleGroup, InstanceID: f.lifecycleInstance},
		LifecycleRegion: f.lifecycleRegion,
	}
	if f.source == "" {
		return nil, cli.Usagef("--source is required (the release channel, e.g. s3://acme-releases/hello/production.deb)")
	}
	var err error
	if c.Source, err = release.ParseAddress(f.source); err != nil {
		return nil, cli.Usagef("--source: %v", err)
	}
	if c.Package == "" {
		return nil, cli.Usagef("--package is required (the package name the channel must contain)")
	}
	if err := checkTrustMode(c); err != nil {
		return nil, err
	}
	if c.Interval <= 0 {
		return nil, cli.Usagef("--interval %s: must be positive", c.Interval)
	}
	c.Jitter = c.Interval / 5
	if f.jitter != "" {
		if c.Jitter, err = time.ParseDuration(f.jitter); err != nil {
			return nil, cli.Usagef("--jitter: %v", err)
		}
		if c.Jitter < 0 || c.Jitter > c.Interval {
			return nil, cli.Usagef("--jitter %s: must be between 0 and --interval (%s)", c.Jitter, c.Interval)
		}
	}
	if c.StateDir == "" {
		return nil, cli.Usagef("--state-dir must not be empty")
	}
	if err := checkService(c, f.signal); err != nil {
		return nil, err
	}
	if c.Host == "" {
		if c.Host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("--host not given and no hostname: %w", err)
		}
	}
	if !hostNameOK(c.Host) {
		return nil, cli.Usagef("--host %q: want at most 255 printable ASCII characters without /, \\ or spaces (it names an S3 object, which every reader of the fleet's status prints)", c.Host)
	}
	if c.Heartbeat <= 0 {
		return nil, cli.Usagef("--heartbeat %s: must be positive", c.Heartbeat)
	}
	if c.LeaseTTL < minLeaseTTL || c.LeaseTTL > maxLeaseTTL {
		return nil, cli.Usagef("--lease-ttl %s: must be between %s (the slot is renewed every third of it) and %s (a dead host blocks its slot this long)", c.LeaseTTL, minLeaseTTL, maxLeaseTTL)
	}
	if err := checkOutputs(c); err != nil {
		return nil, err
	}
	if err := checkLifecycle(c); err != nil {
		return nil, err
	}
	if err := checkHold(c); err != nil {
		return nil, err
	}
	if err := checkConfigChannel(c, f.config); err != nil {
		return nil, err
	}
	return c, nil
}

// checkLifecycle: a lifecycle action is completed once, at the end of a
// --once run; the daemon has none to complete.
func checkLifecycle(c *config) error {
	l := c.Lifecycle
	switch {
	case l.Hook == "" && (l.Group != "" || l.InstanceID != "" || c.LifecycleRegion != ""):
		return cli.Usagef("--lifecycle-group, --lifecycle-instance-id and --lifecycle-region name the action of --lifecycle-hook: give --lifecycle-hook too")
	case l.Hook != "" && !c.Once:
		return cli.Usagef("--lifecycle-hook completes a launch lifecycle action after --once: give --once too (pass it on the command line of the first boot's autoupdate --once, not in %s, which the daemon reads too)", DefaultEnvFile)
	case l.Hook != "":
		if err := lifecycle.Check(l, c.LifecycleRegion); err != nil {
			return cli.Usagef("--lifecycle-hook: %v", err)
		}
	}
	return nil
}

// checkHold checks how the service holds its updates.
func checkHold(c *config) error {
	if c.MaxHold <= 0 {
		return cli.Usagef("--max-hold %s: must be positive", c.MaxHold)
	}
	if c.HoldFile != "" && !filepath.IsAbs(c.HoldFile) {
		return cli.Usagef("--hold-file %q: want an absolute path, e.g. /run/hello/hold", c.HoldFile)
	}
	if c.HoldURL != "" {
		if p, err := url.Parse(c.HoldURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return cli.Usagef("--hold-url %q: want an http:// or https:// URL, e.g. http://127.0.0.1:8080/hold", c.HoldURL)
		}
	}
	return nil
}

// checkOutputs checks where the agent tells what it does: metrics, logs,
// notifications.
func checkOutputs(c *config) error {
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return cli.Usagef("--metrics-addr %q: want host:port", c.MetricsAddr)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return cli.Usagef("--log-format %q: want text or json", c.LogFormat)
	}
	if c.NotifyURL != "" {
		if err := notify.CheckURL(c.NotifyURL, c.Insecure); err != nil {
			return cli.Usagef("--notify-url: %v", err)
		}
	}
	return nil
}

// hostNameOK reports whether host can name a status object: S3 keys
// take any UTF-8, but some servers rewrite control characters, and
// every operator's terminal shows the name.
func hostNameOK(host string) bool {
	if host == "" || len(host) > 255 || strings.ContainsAny(host, `/\`) {
		return false
	}
	for i := 0; i < len(host); i++ {
		if host[i] <= ' ' || host[i] > '~' {
			return false
		}
	}
	return true
}

// checkService checks the settings of the service's restart and health
// check, and parses signal into c.Signal.
func checkService(c *config, signal string) error {
	var err error
	if c.Signal, err = parseSignal(signal); err != nil {
		return cli.Usagef("--signal: %v", err)
	}
	if c.HealthTimeout <= 0 {
		return cli.Usagef("--health-timeout %s: must be positive", c.HealthTimeout)
	}
	if c.Splay < 0 {
		return cli.Usagef("--splay %s: must not be negative", c.Splay)
	}
	if (c.HealthURL != "" || c.ExpectVersion != "") && c.PIDFile == "" && c.ReloadCmd == "" {
		return cli.Usagef("--health-url and --expect-version check a restarted service: give --pidfile or --reload-cmd too")
	}
	if c.ServiceUnit != "" {
		if c.PIDFile == "" {
			return cli.Usagef("--service-unit checks the PID in --pidfile: give --pidfile too")
		}
		if err := service.CheckUnit(c.ServiceUnit); err != nil {
			return cli.Usagef("--service-unit: %v", err)
		}
	}
	for name, u := range map[string]string{"--health-url": c.HealthURL, "--expect-version": c.ExpectVersion} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return cli.Usagef("%s %q: want an http:// or https:// URL", name, u)
		}
	}
	return nil
}

// checkTrustMode requires the operator to choose between signed releases
// (one or more public keys) and unsigned ones (--allow-unsigned), and
// refuses both at once: a key would then protect nothing.
func checkTrustMode(c *config) error {
	switch {
	case len(c.PublicKeys) > 0 && c.AllowUnsigned:
		return cli.Usagef("--allow-unsigned with --public-key: choose one (with a key, unsigned releases are refused; --allow-unsigned would accept anything)")
	case len(c.PublicKeys) > 0 || c.AllowUnsigned:
		return nil
	}
	return cli.Usagef(`no --public-key: by default the agent installs only releases signed for its channel.
  1. Where you publish (CI), make a key pair once:  pkgdeb keygen --out release
     and keep release.key secret (a CI secret).
  2. Publish with it:  pkgdeb publish --sign-key release.key hello.deb %s
  3. Ship release.pub to every server (cloud-init user data, config management)
     and give --public-key /etc/autoupdate/release.pub
     (or AUTOUPDATE_PUBLIC_KEY=/etc/autoupdate/release.pub in %s).
To follow unsigned releases instead, pass --allow-unsigned: whoever can write
to the channel then runs code as root on this server`, c.Source, DefaultEnvFile)
}

// parseSignal accepts HUP, SIGHUP, hup or a number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n >= 65 {
			return 0, fmt.Errorf("signal number %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for _, sig := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"HUP", syscall.SIGHUP}, {"USR1", syscall.SIGUSR1}, {"USR2", syscall.SIGUSR2},
		{"TERM", syscall.SIGTERM}, {"INT", syscall.SIGINT}, {"QUIT", syscall.SIGQUIT},
		{"WINCH", syscall.SIGWINCH}, {"ALRM", syscall.SIGALRM},
	} {
		if sig.name == name {
			return sig.sig, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q (want e.g. HUP, USR2 or a number)", s)
}
