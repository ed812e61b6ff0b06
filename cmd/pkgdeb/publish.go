package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const publishHelp = `Usage: pkgdeb publish [flags] PACKAGE.deb s3://BUCKET/KEY [s3://BUCKET/KEY ...]
       pkgdeb publish --kind config --package SERVICE [flags] FILE.env s3://BUCKET/KEY [...]

Upload a .deb to one or more release channels (object keys in versioned S3
buckets) and print each new VersionId. The package is checked first (it
must read as a .deb and its md5sums must verify); nothing is uploaded
otherwise. The bytes go up with a manifest in the object's metadata
(package, version, architecture, SHA-256, size, time, publisher, git
commit, and an ed25519 signature with --sign-key). The file is read once
to hash it, whatever the number of channels, and S3 verifies what was
hashed: the SHA-256 of a package sent in one PUT, or the CRC32C of each
part and of the whole of a larger one sent in parts (5 MiB and up).

A bucket without versioning is refused (rollback needs the old versions)
unless --allow-unversioned. When a channel's current version already has
these exact bytes nothing is uploaded there, unless --force. A failure at
one destination does not stop the others; the exit status is 1 if any
failed.

A rollout policy protects the fleet from a bad release: --rollout gives
the waves (cumulative shares of the hosts; each host's place is a stable
hash of its name and the release), one every --wave-interval from the
publish time; --max-updating caps the hosts installing at once (lease
objects next to the release); --halt-after stops the release once that
many hosts failed it and rolled back (see pkgdeb status, halt, resume).
--window limits when hosts take the release: a host outside every window
keeps its release and reports "waiting (window)" until one opens (it
checks at its usual polls, at no extra S3 request). A window is
  DAYS HH:MM-HH:MM ZONE
DAYS is * or days and ranges (Mon-Fri, Sat-Sun, Mon,Wed,Fri; Fri-Mon
wraps); an end not after the start crosses midnight (Fri 22:00-02:00 ends
Saturday 02:00); 24:00 ends a day; ZONE is an IANA name (Europe/London,
America/New_York) or UTC, and the zone's wall clock decides, daylight
saving time included (a window in the hour skipped in spring does not
happen that day). Give --window up to 8 times: a host may update inside
any of them. A window gates the start of an install, not its end, and a
rollback is not held by windows unless --respect-window.

A gate stops a rollout between waves, as CodeDeploy stops a deployment
on a CloudWatch alarm: before adopting the release in any wave after the
first, each host asks --gate-url (it must answer 200) and/or reads the
CloudWatch alarm --gate-alarm (it must be OK; the agent's region and
credentials, and cloudwatch:DescribeAlarms, see docs/iam-agent.json).
Anything else (another status, ALARM, INSUFFICIENT_DATA, a missing alarm,
no answer within 15s) holds the host on its installed release in state
gated, saying why in pkgdeb status. Each host asks once per wave; a host
the gate said no to asks again a --wave-interval later (or when the next
wave begins), one that got no answer a minute later. At 1,000 hosts and
--rollout 10%,50%,100%, a passing gate sees 900 requests in all (none in
the first wave), a failing one at most about 1,000 per wave interval.
CloudWatch allows 9 DescribeAlarms per second per account and region by
default: hosts it throttles at a wave's start ask again a minute later.
The policy is part of the signed manifest. The default, --rollout 100%,
sends the release to every host at once, at any time.

Configuration channels. --kind config publishes a service's environment
file instead of a .deb, on a channel of its own (e.g. hello/production.env
next to hello/production.deb), for agents run with --config-source: they
write the file, reload the service, check its health and roll back as for
a package. Everything above applies unchanged: signing, the rollout policy
(waves, --max-updating, --halt-after, windows, gates), --wait, --notify,
and pkgdeb history, rollback, promote, status, wait, halt, resume and
dashboard on the channel. --package names the service; --version defaults
to the UTC time of the publish (2026.12.02-063000: sortable, readable,
what rollback --to names). Before anything is uploaded, the file must be
at most 64 KiB and parse as an environment file, as systemd's
EnvironmentFile= and the agent read it (KEY=VALUE lines, # comments, an
optional "export ", values in '...' taken literally or in "..." where a
backslash escapes " \ $ and the backquote), with no key set twice;
--check-cmd runs a command of yours on it ($1 is the file's path; without
AWS credentials in its environment; at most --check-timeout) and nothing
is published unless it exits 0. A configuration may hold secrets: no
error, log, status, notification or history ever shows its values (errors
name the line and the key; a failed check's output is shown with every
value of the file replaced by [value of KEY]). The bytes uploaded are the
ones checked.

Encryption. --sse aws:kms [--kms-key-id KEY] has S3 encrypt the release
with a KMS key, so that reading it takes kms:Decrypt on the key, not only
the bucket (see docs/iam.md for the grants). Name the key by its ARN: an
alias is resolved in the publisher's account, not the bucket owner's.
Rollback and promote keep it on their copies. Sign encrypted
configurations (--sign-key): an unsigned one is only as trustworthy as
every bucket writer.

Credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, SSO, instance profile).
AWS_ENDPOINT_URL_S3 or --endpoint selects an S3-compatible server; a plain
http:// one that is not on loopback needs --insecure-endpoint.

With --wait, publish then follows the rollout of what it wrote, at each
destination in turn (within one --timeout), as pkgdeb wait does: exit 0
once every live host runs the release, 1 when a host fails it, it is
halted or another publish supersedes it, 3 on timeout; --notify posts
each step to a webhook. See pkgdeb wait --help.

Examples:
  pkgdeb publish dist/hello_1.2.3_amd64.deb s3://acme-releases/hello/staging.deb
  pkgdeb publish --sign-key ci.key dist/hello_1.2.3_amd64.deb \
      s3://acme-releases-eu/hello/production.deb s3://acme-releases-us/hello/production.deb
  pkgdeb publish --endpoint http://127.0.0.1:7070 hello.deb s3://test/hello.deb
  pkgdeb publish --endpoint http://minio.lan:9000 --insecure-endpoint hello.deb s3://test/hello.deb
  pkgdeb publish --sign-key ci.key --rollout 10%,50%,100% --wave-interval 5m \
      --max-updating 2 --halt-after 2 hello.deb s3://acme-releases/hello/production.deb
  pkgdeb publish --sign-key ci.key --window 'Mon-Fri 09:00-17:00 Europe/London' \
      --window 'Sat 22:00-02:00 UTC' hello.deb s3://acme-releases/hello/production.deb
  pkgdeb publish --sign-key ci.key --rollout 5%,100% --wave-interval 15m \
      --gate-alarm api-5xx --gate-url https://alerts.example.com/api/ok \
      hello.deb s3://acme-releases/hello/production.deb
  pkgdeb publish --sign-key ci.key --wait --timeout 15m --notify "$SLACK_WEBHOOK_URL" \
      hello.deb s3://acme-releases/hello/production.deb
  pkgdeb publish --kind config --package hello --sign-key ci.key --sse aws:kms \
      --kms-key-id arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
      --check-cmd 'grep -q "^HELLO_GREETING=" "$1"' \
      --rollout 10%,100% --wave-interval 10m --halt-after 1 --wait \
      hello.env s3://acme-releases/hello/production.env
  pkgdeb rollback s3://acme-releases/hello/production.env --to previous --sign-key ci.key

Flags:
`

// s3Flags are the connection flags every S3 command takes.
type s3Flags struct {
	endpoint, region string
	insecureEndpoint bool
}

func (f *s3Flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "", "S3-compatible endpoint `URL` (default: AWS, or $AWS_ENDPOINT_URL_S3); path-style addressing")
	fs.StringVar(&f.region, "region", "", "S3 `region` (default: $AWS_REGION, the shared config, else us-east-1)")
	fs.BoolVar(&f.insecureEndpoint, "insecure-endpoint", false, "allow a plain http:// endpoint that is not on loopback (e.g. http://10.0.0.5:9000): requests and packages then cross the network unencrypted")
}

func (f *s3Flags) client(ctx context.Context, stderr io.Writer) (*release.Client, error) {
	return release.New(ctx, release.Options{
		Endpoint:              f.endpoint,
		Region:                f.region,
		AllowInsecureEndpoint: f.insecureEndpoint,
		Logger:                slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// oneChannel returns the single s3://bucket/key the commands that act on one
// channel take.
func oneChannel(pos []string) (release.Address, error) {
	if len(pos) != 1 {
		return release.Address{}, cli.Usagef("want exactly one s3://bucket/key, got %d arguments", len(pos))
	}
	a, err := release.ParseAddress(pos[0])
	if err != nil {
		return release.Address{}, cli.Usagef("%v", err)
	}
	return a, nil
}

func parseAddresses(args []string) ([]release.Address, error) {
	var out []release.Address
	for _, s := range args {
		a, err := release.ParseAddress(s)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// publisher names who publishes: user@host.
func publisher() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// gitCommit guesses the commit a package was built from: CI variables
// first, then the git work tree holding the file.
func gitCommit(ctx context.Context, file string) string {
	for _, env := range []string{"GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT"} {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", filepath.Dir(file), "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// isTerminal reports whether w is a character device (a terminal), without
// a dependency on x/term.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress reports upload progress: a redrawn bar on a terminal, else a
// line at each quarter. The transfer manager calls it from several
// goroutines.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	tty   bool
	last  int // last percentage (tty) or quarter (lines) shown
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, tty: isTerminal(w), last: -1}
	if !p.tty {
		p.last = 0 // lines start at the first quarter
	}
	return p
}

func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pct := 100
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if p.tty {
		if pct == p.last {
			return
		}
		p.last = pct
		const width = 30
		bar := strings.Repeat("#", pct*width/100) + strings.Repeat(".", width-pct*width/100)
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %s/%s", p.label, bar, pct, mib(done), mib(total))
		if done >= total {
			fmt.Fprint(p.w, "\n")
		}
		return
	}
	// Small uploads finish in one request; a line for them is noise.
	if total < 32<<20 {
		return
	}
	if q := pct / 25; q > p.last {
		p.last = q
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s)\n", p.label, pct, mib(done), mib(total))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb publish", publishHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	signKey := fs.String("sign-key", "", "sign the manifest with this ed25519 private key `file` (from pkgdeb keygen)")
	allowUnversioned := fs.Bool("allow-unversioned", false, "publish to buckets without versioning (no history, no rollback)")
	force := fs.Bool("force", false, "upload even when the current version already has these bytes")
	commit := fs.String("git-commit", "", "git `commit` to record (default: $GITHUB_SHA, $CI_COMMIT_SHA, or HEAD of the git tree holding the file)")
	who := fs.String("publisher", "", "who publishes, recorded in the manifest (default: user@host)")
	var kf kindFlags
	kf.register(fs)
	var rf rolloutFlags
	rf.register(fs)
	var wf waitFlags
	wf.register(fs, true)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wf.check(fs, true, conn.insecureEndpoint); err != nil {
		return err
	}
	if err := kf.check(fs); err != nil {
		return err
	}
	if len(pos) < 2 {
		return cli.Usagef("want a file (a .deb, or a configuration with --kind config) and at least one s3://bucket/key, got %d arguments", len(pos))
	}
	file := pos[0]
	dsts, err := parseAddresses(pos[1:])
	if err != nil {
		return err
	}
	policy, err := rf.policy()
	if err != nil {
		return err
	}
	var key *release.SigningKey
	if *signKey != "" {
		if key, err = release.LoadSigningKey(*signKey); err != nil {
			return err
		}
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	m, f, digest, err := publishManifest(ctx, c, file, &kf, *who, *commit, policy)
	if err != nil {
		return err
	}
	defer f.Close()
	warnUnsignedEncrypted(stderr, m, key, kf.encryption())
	in := release.PublishInput{Body: f, Manifest: m, Digest: digest, Key: key, AllowUnversioned: *allowUnversioned, Force: *force, Encryption: kf.encryption()}
	written, failed := publishEach(ctx, c, dsts, in, policy, stdout, stderr)
	var waitErr error
	if wf.wait && len(written) > 0 {
		w := waiter{c: c, flags: &wf, insecure: conn.insecureEndpoint, stdout: stdout, stderr: stderr}
		waitErr = w.follow(ctx, written)
	}
	if failed > 0 {
		return errors.Join(fmt.Errorf("publish %s: failed at %d of %d destinations", file, failed, len(dsts)), plain(waitErr))
	}
	return waitErr
}

// plain returns err without the exit status it asks for: another failure
// decides it.
func plain(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// publishEach publishes in to every destination in turn, reporting each
// outcome, and returns the releases now current (written, or found there
// already) and how many failed. It stops early when ctx ends.
func publishEach(ctx context.Context, c *release.Client, dsts []release.Address, in release.PublishInput, policy fleet.Policy, stdout, stderr io.Writer) (written []waitFor, failed int) {
	m := in.Manifest
	for _, dst := range dsts {
		in.Progress = newProgress(stderr, "upload "+dst.String()).update
		res, err := c.Publish(ctx, dst, in)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(stderr, "%s: FAILED: %s\n", dst, visibleLines(err.Error()))
			printAdvice(stderr, "publish", err)
		case res.Skipped:
			fmt.Fprintf(stdout, "%s: unchanged: current VersionId %s already has sha256 %s; nothing uploaded (--force uploads anyway)\n", dst, res.VersionID, m.ShortSHA())
			warnPolicyKept(ctx, c, dst, res.VersionID, policy, stderr)
			written = append(written, waitFor{dst, fleet.Target{VersionID: res.VersionID, SHA256: m.SHA256}})
		default:
			written = append(written, waitFor{dst, fleet.Target{VersionID: res.VersionID, SHA256: m.SHA256}})
			vid := res.VersionID
			if vid == "" || vid == "null" {
				vid = "none (bucket not versioned)"
			}
			enc := ""
			if !in.Encryption.IsZero() {
				enc = ", encrypted " + in.Encryption.String()
			}
			fmt.Fprintf(stdout, "%s: published %s (%s), sha256 %s, %s%s, VersionId %s\n", dst, kindNote(m), keyNote(in.Key), m.ShortSHA(), sizeNote(m.Size), enc, vid)
			fmt.Fprintf(stdout, "%s: %s\n", dst, policyNote(policy, m.PublishedAt))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return written, failed
}

func signedNote(m *release.Manifest) string {
	if m.Signed() {
		return "signed by key " + m.KeyID
	}
	return "unsigned"
}

// warnUnsignedEncrypted warns when a configuration goes up encrypted but
// unsigned: an agent without a public key trusts the manifest's SHA-256,
// which anyone who can write the bucket can set (and an SSE-KMS ETag is
// no MD5 to check against).
func warnUnsignedEncrypted(stderr io.Writer, m *release.Manifest, key *release.SigningKey, enc release.Encryption) {
	if key == nil && enc.SSE == release.SSEKMS {
		fmt.Fprintf(stderr, "warning: %s goes up encrypted with KMS but unsigned: hosts cannot tell it from one a bucket writer put there; sign it (--sign-key) and give the agents the public key\n", kindNote(m))
	}
}

// keyNote says how publish signs: with key, for each channel it writes.
func keyNote(key *release.SigningKey) string {
	if key != nil {
		return "signed by key " + key.ID() + " for this channel"
	}
	return "unsigned"
}

// publishManifest is prepareManifest (or prepareConfig, with --kind
// config) with who publishes, the git commit and the rollout policy; it
// returns the bytes to upload and, for a package, their digest for c's
// uploads (nil for a config, small enough to hash again).
func publishManifest(ctx context.Context, c *release.Client, file string, kf *kindFlags, who, commit string, policy fleet.Policy) (*release.Manifest, releaseBody, *release.Digest, error) {
	var m *release.Manifest
	var f releaseBody
	var d *release.Digest
	var err error
	if kf.kind == release.KindConfig {
		m, f, err = prepareConfig(ctx, file, kf)
	} else {
		m, f, d, err = prepareManifest(ctx, c, file)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	m.Publisher = cmp.Or(who, publisher())
	m.GitCommit = commit
	if m.GitCommit == "" {
		m.GitCommit = gitCommit(ctx, file)
	}
	if err := policy.Apply(m); err != nil {
		f.Close()
		return nil, nil, nil, cli.Usagef("%v", err)
	}
	if err := m.Validate(); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("publish %s: %w", file, err)
	}
	return m, f, d, nil
}

// prepareManifest checks that file is a sound .deb and describes it. It
// returns the open file for uploading, and its digest for c's uploads:
// the one pass that gives the manifest's SHA-256 and the checksums of
// every part, whatever the number of destinations.
func prepareManifest(ctx context.Context, c *release.Client, file string) (*release.Manifest, *os.File, *release.Digest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("publish: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("publish: %w", err)
	}
	pkg, err := deb.Read(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("publish %s: not a valid .deb, nothing uploaded: %w", file, err)
	}
	if err := pkg.Verify(); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("publish %s: package does not verify, nothing uploaded: %w", file, err)
	}
	d, err := c.Digest(ctx, f, fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("publish %s: %w", file, err)
	}
	return &release.Manifest{
		Package:      pkg.Control.Package,
		Version:      pkg.Control.Version,
		Architecture: pkg.Control.Architecture,
		SHA256:       d.SHA256,
		Size:         fi.Size(),
		PublishedAt:  time.Now().UTC().Truncate(time.Second),
	}, f, d, nil
}

// rolloutFlags are publish's rollout policy flags.
type rolloutFlags struct {
	waves       string
	interval    time.Duration
	maxUpdating int
	haltAfter   int
	windows     cli.Strings
	gateURL     string
	gateAlarm   string
}

func (f *rolloutFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.waves, "rollout", "100%", "`waves`: cumulative shares of the fleet, e.g. 10%,50%,100%; the last must be 100%")
	fs.DurationVar(&f.interval, "wave-interval", 0, "time between two waves, e.g. 5m (`duration`; required with more than one wave)")
	fs.IntVar(&f.maxUpdating, "max-updating", 0, "at most `N` hosts install and restart at once (0: no limit)")
	fs.IntVar(&f.haltAfter, "halt-after", 0, "halt the release once `N` hosts failed it and rolled back; until then at most N try it at once (0: never automatically)")
	fs.Var(&f.windows, "window", "a maintenance `window`: hosts take the release only inside one, e.g. 'Mon-Fri 09:00-17:00 Europe/London' (repeatable; see above)")
	fs.StringVar(&f.gateURL, "gate-url", "", "before each wave after the first, every host asks this `URL` and waits (state gated) until it answers 200 itself (no redirect); https:// unless on loopback. Its query may carry a token: status never shows it")
	fs.StringVar(&f.gateAlarm, "gate-alarm", "", "before each wave after the first, every host reads this CloudWatch alarm (`NAME`, in the agent's region) and waits (state gated) until it is OK: ALARM, INSUFFICIENT_DATA or a missing alarm hold the rollout")
}

// policy checks the flags and returns the policy they describe.
func (f *rolloutFlags) policy() (fleet.Policy, error) {
	waves, err := fleet.ParseWaves(f.waves)
	if err != nil {
		return fleet.Policy{}, cli.Usagef("--rollout: %v", err)
	}
	p := fleet.Policy{Waves: waves, WaveInterval: f.interval, MaxUpdating: f.maxUpdating, HaltAfter: f.haltAfter,
		Gate: fleet.Gate{URL: f.gateURL, Alarm: f.gateAlarm}}
	if p.Windows, err = fleet.ParseWindows(f.windows); err != nil {
		return fleet.Policy{}, cli.Usagef("--window: %v", err)
	}
	switch {
	case !p.Gate.IsZero() && !p.Staged():
		return fleet.Policy{}, cli.Usagef("--gate-url and --gate-alarm are checked before each wave after the first: give --rollout at least two waves, e.g. --rollout 10%%,100%% --wave-interval 10m")
	case p.Staged() && f.interval == 0:
		return fleet.Policy{}, cli.Usagef("--rollout %s has %d waves: give --wave-interval (e.g. 5m)", f.waves, len(waves))
	case !p.Staged() && f.interval != 0:
		return fleet.Policy{}, cli.Usagef("--wave-interval needs more than one wave in --rollout (e.g. 10%%,50%%,100%%)")
	}
	if err := p.Validate(); err != nil {
		return fleet.Policy{}, cli.Usagef("%v", err)
	}
	return p, nil
}

// policyNote describes the rollout a publish started.
func policyNote(p fleet.Policy, published time.Time) string {
	if p.IsDefault() {
		return "rollout: every host at once (--rollout 100%)"
	}
	s := p.String()
	if p.Staged() {
		last := published.Add(time.Duration(len(p.Waves)-1) * p.WaveInterval)
		s += fmt.Sprintf("; last wave from %s", last.Format(time.RFC3339))
	}
	return s
}

// warnPolicyKept says so when a skipped publish asked for another policy
// than the one the current release carries: the bytes are the same, so
// nothing was written, and the old policy stays in force.
func warnPolicyKept(ctx context.Context, c *release.Client, dst release.Address, versionID string, want fleet.Policy, stderr io.Writer) {
	obj, err := c.Head(ctx, dst, versionID)
	if err != nil || obj.Manifest == nil {
		return
	}
	cur, err := fleet.PolicyOf(obj.Manifest)
	if err != nil || cur.String() == want.String() {
		return
	}
	fmt.Fprintf(stderr, "%s: warning: the current release keeps its policy (%s), not %s; publish with --force to change it\n", dst, cur, want)
}
