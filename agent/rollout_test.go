package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// fleetHost is a sandboxed host without a service: a dpkg root and a
// state directory. The fleet tests need many of them and only dpkg.
type fleetHost struct {
	name           string
	root, stateDir string
	inst           *Installer
	// interval between checks; default 100 ms.
	interval time.Duration
}

func newFleetHost(t testing.TB, name string) *fleetHost {
	t.Helper()
	h := &fleetHost{name: name, root: testenv.DpkgRoot(t), stateDir: t.TempDir()}
	dir, err := state.Open(h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	h.inst = &Installer{Dir: dir, Dpkg: &dpkg.Dpkg{Root: h.root}, Logger: slog.New(slog.DiscardHandler)}
	return h
}

func (h *fleetHost) agent(t testing.TB, ch *channel, leaseTTL time.Duration, logs io.Writer) *Agent {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	a, err := New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: h.name, Report: true, AllowUnsigned: true,
		Interval: cmp.Or(h.interval, 100*time.Millisecond), Jitter: cmp.Or(h.interval, 100*time.Millisecond) / 5, LeaseTTL: leaseTTL,
		Installer: h.inst, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newFleet(t testing.TB, prefix string, n int) []*fleetHost {
	hosts := make([]*fleetHost, n)
	for i := range hosts {
		hosts[i] = newFleetHost(t, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return hosts
}

// installAll installs the channel's current release on every host with
// Once, a few at a time.
func installAll(t testing.TB, ch *channel, hosts []*fleetHost) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = h.agent(t, ch, 0, nil).Once(t.Context())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", hosts[i].name, err)
		}
	}
}

// runAgents runs an agent per host until stop is called.
// waitHaltedOrRolledBack waits until every host reports the release halted
// or rolled back, then a second more, so a host that would still try it
// (wrongly) has done so before the caller counts.
func waitHaltedOrRolledBack(t *testing.T, ch *channel, hosts []*fleetHost, logs *realparts.SyncBuffer) {
	t.Helper()
	settled := func() bool {
		for _, h := range hosts {
			st := ch.tryStatus(t, h.name)
			if st == nil || (st.State != StateHalted && st.State != string(RolledBack)) {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "every host halted or rolled back", settled); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	time.Sleep(time.Second)
}

func runAgents(t testing.TB, ch *channel, hosts []*fleetHost, leaseTTL time.Duration, logs io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, h := range hosts {
		a := h.agent(t, ch, leaseTTL, logs)
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				t.Errorf("%s: Run: %v", h.name, err)
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// staged publishes the .deb at path with policy p, published now.
func (c *channel) staged(t testing.TB, path string, p fleet.Policy) *fleet.Rollout {
	t.Helper()
	r := manifest(t, path, time.Now())
	if err := p.Apply(r.m); err != nil {
		t.Fatal(err)
	}
	c.publish(t, r)
	ro, err := fleet.RolloutOf(r.m)
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

// onVersion returns the hosts whose status says they run version, sorted.
func (c *channel) onVersion(t testing.TB, hosts []*fleetHost, version string) []string {
	t.Helper()
	fs, err := c.fleet().ReadStatus(t.Context(), c.addr)
	if err != nil {
		t.Fatal(err)
	}
	var on []string
	for _, st := range fs.Hosts {
		if st.Version == version && slices.ContainsFunc(hosts, func(h *fleetHost) bool { return h.name == st.Host }) {
			on = append(on, st.Host)
		}
	}
	return on
}

// statusHistory reads every version of every status object of the
// channel (the bucket is versioned): each host's reports, oldest first.
func (c *channel) statusHistory(t *testing.T) map[string][]Status {
	t.Helper()
	s3c := c.srv.Client()
	prefix := c.addr.Key + ".status/"
	out := map[string][]Status{}
	p := s3.NewListObjectVersionsPaginator(s3c, &s3.ListObjectVersionsInput{Bucket: &c.addr.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			obj, err := s3c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &c.addr.Bucket, Key: v.Key, VersionId: v.VersionId})
			if err != nil {
				t.Fatal(err)
			}
			var st Status
			err = json.NewDecoder(obj.Body).Decode(&st)
			obj.Body.Close()
			if err != nil {
				t.Fatalf("%s version %s: %v", aws.ToString(v.Key), aws.ToString(v.VersionId), err)
			}
			out[st.Host] = append(out[st.Host], st)
		}
	}
	for _, h := range out {
		slices.SortFunc(h, func(a, b Status) int { return a.Time.Compare(b.Time) })
	}
	return out
}

// installing returns the intervals during which each host reported that
// it was installing the release with SHA-256 sha: from the "installing"
// report to the host's next report (or to end, for a host that never
// reported again).
func installing(hist map[string][]Status, sha string, end map[string]time.Time) map[string][][2]time.Time {
	out := map[string][][2]time.Time{}
	for host, sts := range hist {
		for i, st := range sts {
			if st.State != StateInstalling || st.Target == nil || st.Target.SHA256 != sha {
				continue
			}
			to, ok := end[host]
			if i+1 < len(sts) {
				to, ok = sts[i+1].Time, true
			}
			if !ok {
				to = time.Now().Add(time.Hour)
			}
			out[host] = append(out[host], [2]time.Time{st.Time, to})
		}
	}
	return out
}

// maxOverlap is the largest number of intervals open at one instant.
func maxOverlap(iv map[string][][2]time.Time) (n int, at time.Time, who []string) {
	for _, list := range iv {
		for _, x := range list {
			var open []string
			for host, l := range iv {
				for _, y := range l {
					if !y[0].After(x[0]) && y[1].After(x[0]) {
						open = append(open, host)
					}
				}
			}
			if len(open) > n {
				n, at, who = len(open), x[0], open
			}
		}
	}
	return n, at, who
}

// TestStagedRollout: 20 agents and a release in three waves. Before each
// next wave no host beyond the waves so far runs it, no host starts before
// its wave, every host ends on it, hosts not yet covered say so in their
// status, and a second run (new bucket, new hosts, same names, same
// release) finds every waiting host at the same place.
func TestStagedRollout(t *testing.T) {
	const n = 20
	const interval = 3 * time.Second
	dir := t.TempDir()
	v1 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"})
	v2 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0"})
	for i, p := range []*string{&v1, &v2} {
		// Keep the bytes fixed across both runs.
		b, err := os.ReadFile(*p)
		if err != nil {
			t.Fatal(err)
		}
		*p = filepath.Join(dir, strconv.Itoa(i)+".deb")
		if err := os.WriteFile(*p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policy := fleet.Policy{Waves: []float64{10, 50, 100}, WaveInterval: interval}
	// Places are a hash of host name and release: with 20 hosts the first
	// wave (10%) may well be empty. Pick the name prefix so that every
	// wave has hosts to show (deterministic for given release bytes).
	b, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%x", sha256.Sum256(b))
	prefix := ""
	for i := 0; prefix == "" && i < 100; i++ {
		p := fmt.Sprintf("web%d", i)
		first, second := 0, 0
		for j := range n {
			switch place := fleet.Place(fmt.Sprintf("%s-%02d", p, j), sha); {
			case place < 10:
				first++
			case place < 50:
				second++
			}
		}
		if first >= 1 && first <= 4 && second >= 4 {
			prefix = p
		}
	}
	if prefix == "" {
		t.Fatal("no host name prefix gives every wave a host")
	}
	var runs []map[string]float64
	for run := range 2 {
		t.Run(fmt.Sprintf("run-%d", run+1), func(t *testing.T) {
			ch := newChannel(t)
			hosts := newFleet(t, prefix, n)
			ch.publish(t, manifest(t, v1, time.Now()))
			installAll(t, ch, hosts)
			var logs realparts.SyncBuffer
			started := time.Now()
			stop := runAgents(t, ch, hosts, 0, &logs)
			// Publish once every agent has started (and so checks every
			// 100 ms), not before: on a busy machine 20 starts can take
			// longer than the first wave, and a host that first looks in
			// wave 2 never waits for it.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := realparts.WaitFor(ctx, "every agent started", func() bool {
				return !slices.ContainsFunc(hosts, func(h *fleetHost) bool {
					st := ch.tryStatus(t, h.name)
					return st == nil || st.Time.Before(started)
				})
			}); err != nil {
				t.Fatal(err)
			}
			r := ch.staged(t, v2, policy)

			want := make([][]string, len(policy.Waves))
			for k, pct := range policy.Waves {
				for _, h := range hosts {
					if r.Place(h.name) < pct {
						want[k] = append(want[k], h.name)
					}
				}
			}
			t.Logf("hosts per wave: %d, %d, %d", len(want[0]), len(want[1]), len(want[2]))
			for k := range len(policy.Waves) - 1 {
				// Just before the next wave no host beyond this one runs
				// the release. Whether every host of the wave has finished
				// installing by then depends on how busy the machine is,
				// not on the agent: that is the wait for every host below,
				// and the start times checked after it.
				time.Sleep(time.Until(r.PublishedAt.Add(time.Duration(k+1)*interval - 700*time.Millisecond)))
				got := ch.onVersion(t, hosts, "2.0")
				if extra := slices.DeleteFunc(got, func(h string) bool { return slices.Contains(want[k], h) }); len(extra) > 0 {
					t.Fatalf("before wave %d: %v run 2.0, outside waves 1-%d %v\n%s", k+2, extra, k+1, want[k], logs.String())
				}
			}
			ctx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := realparts.WaitFor(ctx, "every host on 2.0", func() bool { return len(ch.onVersion(t, hosts, "2.0")) == n }); err != nil {
				t.Fatalf("%v: %v\n%s", err, ch.onVersion(t, hosts, "2.0"), logs.String())
			}
			stop()

			hist := ch.statusHistory(t)
			// places are where the agents said they stand while waiting.
			places := map[string]float64{}
			for _, h := range hosts {
				sts := hist[h.name]
				i := slices.IndexFunc(sts, func(s Status) bool {
					return s.State == StateInstalling && s.Target != nil && s.Target.SHA256 == r.SHA256
				})
				if i < 0 {
					t.Fatalf("%s never reported installing 2.0: %+v", h.name, sts)
				}
				start := sts[i].Time
				if covered := r.CoveredAt(h.name); start.Before(covered) {
					t.Errorf("%s (place %.1f%%) started at %s, before its wave at %s", h.name, r.Place(h.name), start, covered)
				}
				if r.Place(h.name) >= policy.Waves[0] {
					j := slices.IndexFunc(sts, func(s Status) bool {
						return s.State == StateWaiting && s.Rollout != nil && strings.Contains(s.Rollout.Waiting, "wave 1/3 (10%) does not cover this host")
					})
					if j < 0 || sts[j].Version != "1.0" || sts[j].Target.Version != "2.0" {
						t.Fatalf("%s never said it waits for its wave while on 1.0: %+v", h.name, sts)
					}
					places[h.name] = sts[j].Rollout.Place
				}
			}
			runs = append(runs, places)
		})
	}
	if len(runs) == 2 && !maps.Equal(runs[0], runs[1]) {
		t.Errorf("the waiting hosts' places differ on the re-run of the same release:\n%v\n%v", runs[0], runs[1])
	}
}

// failUnderHaltAfter installs 1.0 on hosts, then publishes a 2.0 whose
// postinst fails, with --max-updating 2 --halt-after 2, and runs the hosts'
// agents (their requests going to agents' client) until every host has
// rolled it back or reports it halted. It returns 2.0's rollout.
func failUnderHaltAfter(t *testing.T, ch, agents *channel, hosts []*fleetHost, logs *realparts.SyncBuffer) *fleet.Rollout {
	t.Helper()
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	installAll(t, ch, hosts)
	bad := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Postinst: "#!/bin/sh\necho broken >&2\nexit 1\n"})
	r := ch.staged(t, bad, fleet.Policy{Waves: []float64{100}, MaxUpdating: 2, HaltAfter: 2})
	stop := runAgents(t, agents, hosts, 5*time.Second, logs)
	waitHaltedOrRolledBack(t, ch, hosts, logs)
	stop()
	return r
}

// TestHaltAfterFailures: a release that fails on every host, with
// --max-updating 2 --halt-after 2: exactly two hosts try it and roll
// back, the others never install it and report it halted, and pkgdeb
// status says halted and why.
func TestHaltAfterFailures(t *testing.T) {
	const n = 8
	ch := newChannel(t)
	hosts := newFleet(t, "app", n)
	var logs realparts.SyncBuffer
	r := failUnderHaltAfter(t, ch, ch, hosts, &logs)

	failures, err := ch.fleet().ReadFailures(t.Context(), ch.addr, r.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 2 {
		t.Fatalf("%d failure records, want 2: %+v", len(failures), failures)
	}
	failed := []string{failures[0].Host, failures[1].Host}
	slices.Sort(failed)
	var tried []string
	for host, iv := range installing(ch.statusHistory(t), r.SHA256, nil) {
		if len(iv) > 0 {
			tried = append(tried, host)
		}
	}
	slices.Sort(tried)
	if !slices.Equal(tried, failed) {
		t.Errorf("hosts that installed 2.0: %v; failures recorded by %v", tried, failed)
	}
	for _, h := range hosts {
		st := ch.status(t, h.name)
		if st.Version != "1.0" {
			t.Errorf("%s runs %q, want 1.0", h.name, st.Version)
		}
		q, err := (&dpkg.Dpkg{Root: h.root}).Query(t.Context(), "hello")
		if err != nil || q.Version != "1.0" || !q.Installed() {
			t.Errorf("%s: dpkg says %+v, %v; want hello 1.0 installed", h.name, q, err)
		}
		if slices.Contains(failed, h.name) {
			if st.State != string(RolledBack) {
				t.Errorf("%s failed 2.0 but reports %s", h.name, st.State)
			}
			continue
		}
		if st.State != StateHalted || st.Rollout == nil || !strings.Contains(st.Rollout.Halted, "2 hosts failed (halt-after 2)") {
			t.Errorf("%s: status %+v, rollout %+v; want halted with the reason", h.name, st, st.Rollout)
		}
	}
	state, err := ch.fleet().ReadRolloutState(t.Context(), ch.addr, r.SHA256, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !state.Halted || state.Record == nil || !state.Record.Auto {
		t.Errorf("rollout state %+v, record %+v; want halted by an agent", state, state.Record)
	}

	// pkgdeb status, the real binary, as an operator runs it.
	bin, err := realparts.BuildGo(t.Context(), t.TempDir(), "pkgdeb", "github.com/debfleet/debfleet/cmd/pkgdeb", "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "status", ch.addr.String())
	cmd.Env = append(os.Environ(), ch.srv.Env()...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("pkgdeb status: %v, want exit status 1", err)
	}
	for _, want := range []string{"HALTED   halted by " + state.Record.By, "2 hosts failed (halt-after 2): " + failed[0] + ", " + failed[1],
		"failures 2: ", "progress 0 on the release / 8 covered so far / 8 live hosts", "6 holding back a halted release"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pkgdeb status lacks %q:\n%s", want, out)
		}
	}
	if testing.Verbose() {
		t.Logf("pkgdeb status:\n%s", out)
	}
}

const rolloutHelperEnv = "AGENT_ROLLOUT_HELPER"

// TestAgentProcessHelper is not a test: TestMaxUpdatingKill runs the test
// binary with it as an agent process that it kills with SIGKILL.
func TestAgentProcessHelper(t *testing.T) {
	if os.Getenv(rolloutHelperEnv) == "" {
		t.Skip("helper process for TestMaxUpdatingKill")
	}
	ctx := context.Background()
	c, err := release.New(ctx, release.Options{Endpoint: os.Getenv("HELPER_ENDPOINT"), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("HELPER_AK"), os.Getenv("HELPER_SK"), "")})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := state.Open(os.Getenv("HELPER_STATE"))
	if err != nil {
		t.Fatal(err)
	}
	ttl, _ := time.ParseDuration(os.Getenv("HELPER_TTL"))
	a, err := New(Config{
		Channel: release.Address{Bucket: os.Getenv("HELPER_BUCKET"), Key: os.Getenv("HELPER_KEY")}, Releases: c, Fleet: fleetOf(c),
		Package: "hello", Host: os.Getenv(rolloutHelperEnv), Report: true, Interval: 100 * time.Millisecond, LeaseTTL: ttl, AllowUnsigned: true,
		Installer: &Installer{Dir: dir, Dpkg: &dpkg.Dpkg{Root: os.Getenv("HELPER_ROOT")}},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Run(ctx) // until killed
}

// TestMaxUpdatingKill: --max-updating 1 and five hosts. The first, a real
// agent process, takes the one update slot and is killed with SIGKILL in
// the middle of its install; the slot expires after the lease TTL and the
// other hosts go on, one at a time. The status history never shows two
// hosts installing at once, and the slot's history shows the takeover
// came only after the dead holder's lease expired.
func TestMaxUpdatingKill(t *testing.T) {
	const ttl = 2 * time.Second
	ch := newChannel(t)
	victim := &fleetHost{name: "db-victim", root: testenv.DpkgRoot(t), stateDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(victim.root, "slow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The postinst hangs on the victim only, and says where it hangs so
	// that the test can end it (dpkg runs in its own process group).
	slow := "#!/bin/sh\nif [ -e \"$DPKG_ROOT/slow\" ]; then echo $$ > \"$DPKG_ROOT/postinst.pid\"; sleep 60; fi\nexit 0\n"
	r := ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Postinst: slow}),
		fleet.Policy{Waves: []float64{100}, MaxUpdating: 1})

	var victimLog realparts.SyncBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentProcessHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), rolloutHelperEnv+"="+victim.name, "HELPER_ENDPOINT="+ch.srv.Endpoint,
		"HELPER_AK="+ch.srv.AccessKey, "HELPER_SK="+ch.srv.SecretKey, "HELPER_BUCKET="+ch.addr.Bucket, "HELPER_KEY="+ch.addr.Key,
		"HELPER_ROOT="+victim.root, "HELPER_STATE="+victim.stateDir, "HELPER_TTL="+ttl.String())
	cmd.Stdout, cmd.Stderr = &victimLog, &victimLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
		// End the hung postinst: its process group is dpkg's.
		if b, err := os.ReadFile(filepath.Join(victim.root, "postinst.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 {
					syscall.Kill(-pgid, syscall.SIGKILL)
				}
			}
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "the victim installing", func() bool {
		st := ch.tryStatus(t, victim.name)
		return st != nil && st.State == StateInstalling
	}); err != nil {
		t.Fatalf("%v\n%s", err, victimLog.String())
	}

	hosts := newFleet(t, "db", 4)
	var logs realparts.SyncBuffer
	stop := runAgents(t, ch, hosts, ttl, &logs)
	time.Sleep(time.Second) // they find the slot taken
	if got := ch.onVersion(t, hosts, "2.0"); len(got) != 0 {
		t.Fatalf("hosts installed while the only slot was held: %v", got)
	}
	killAt := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "the other hosts on 2.0", func() bool { return len(ch.onVersion(t, hosts, "2.0")) == len(hosts) }); err != nil {
		t.Fatalf("%v: %v\n%s", err, ch.onVersion(t, hosts, "2.0"), logs.String())
	}
	stop()

	hist := ch.statusHistory(t)
	iv := installing(hist, r.SHA256, map[string]time.Time{victim.name: killAt})
	if len(iv) != len(hosts)+1 {
		t.Errorf("%d hosts reported installing, want %d", len(iv), len(hosts)+1)
	}
	if n, at, who := maxOverlap(iv); n != 1 {
		t.Errorf("%d hosts installing at once at %s: %v", n, at.Format(time.StampMicro), who)
	}
	for _, h := range hosts {
		for _, x := range iv[h.name] {
			if x[0].Before(killAt) {
				t.Errorf("%s started installing at %s, before the holder was killed at %s", h.name, x[0], killAt)
			}
		}
		if !slices.ContainsFunc(hist[h.name], func(s Status) bool {
			return s.State == StateWaiting && s.Rollout != nil && strings.Contains(s.Rollout.Waiting, "no free update slot of 1 (max-updating 1)")
		}) {
			t.Errorf("%s never reported waiting for the update slot: %+v", h.name, hist[h.name])
		}
	}

	// The slot's own history: the victim's last record, then a takeover
	// no earlier than that record's expiry.
	holders := leaseHistory(t, ch)
	i := slices.IndexFunc(holders, func(r fleet.LeaseRecord) bool { return r.Holder != "" && r.Holder != victim.name })
	if i < 1 || holders[i-1].Holder != victim.name {
		t.Fatalf("slot history does not start with the victim: %+v", holders)
	}
	if next, dead := holders[i], holders[i-1]; next.Acquired.Before(dead.Expires) {
		t.Errorf("%s took the slot at %s, before the dead holder's lease expired at %s", next.Holder, next.Acquired, dead.Expires)
	} else {
		t.Logf("killed at %s; lease expired %s; taken over by %s at %s", killAt.Format(time.StampMilli),
			dead.Expires.Format(time.StampMilli), next.Holder, next.Acquired.Format(time.StampMilli))
	}
}

// leaseHistory returns every version of update slot 0, oldest first.
func leaseHistory(t *testing.T, ch *channel) []fleet.LeaseRecord {
	t.Helper()
	a := fleet.LeaseAddress(ch.addr, 0)
	s3c := ch.srv.Client()
	out, err := s3c.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: &a.Bucket, Prefix: &a.Key})
	if err != nil {
		t.Fatal(err)
	}
	// S3 lists the versions of a key newest first.
	var recs []fleet.LeaseRecord
	for _, v := range slices.Backward(out.Versions) {
		obj, err := s3c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: v.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		var rec fleet.LeaseRecord
		err = json.NewDecoder(obj.Body).Decode(&rec)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if !slices.IsSortedFunc(recs, func(a, b fleet.LeaseRecord) int { return a.Acquired.Compare(b.Acquired) }) {
		t.Fatalf("slot versions are not listed newest first: %+v", recs)
	}
	return recs
}
