package dashboard

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// EnvArtifacts names a directory where the browser test keeps its
// screenshots; without it they go to the test's temporary directory and
// are removed with it.
const EnvArtifacts = "DEBFLEET_TEST_ARTIFACTS"

// pageHooks runs in the page before its own scripts (DevTools scripts are
// not subject to the page's CSP): it reports CSP violations and any
// dialog a script injected through a status object would open as console
// errors, which the test fails on.
const pageHooks = `
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
});
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (m) { console.error("dialog " + name + ": " + m); };
}
window.__loaded = Date.now();
`

// browser is a headless chromium tab whose console is recorded.
type browser struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// newBrowser starts chromium for t with the flags that work on a build
// machine (no sandbox as root, no GPU, no network of its own), a fresh
// profile, and its console recorded.
func newBrowser(t *testing.T) *browser {
	path := testenv.Chromium(t)
	var out realparts.SyncBuffer
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&out))
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, dir: artifactDir(t)}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium's output:\n%s", out.String())
		}
	})
	messages := chromedp.Console(ctx)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageHooks})
		return err
	}))
	if err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// artifactDir is where screenshots go: $DEBFLEET_TEST_ARTIFACTS/<test>,
// or a temporary directory.
func artifactDir(t *testing.T) string {
	dir := t.TempDir()
	if root := os.Getenv(EnvArtifacts); root != "" {
		dir = filepath.Join(root, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// do runs actions, bounded by limit.
func (b *browser) do(limit time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// waitFor polls the JavaScript predicate until it is true, for at most
// limit; it fails the test with what saying what did not happen.
func (b *browser) waitFor(what, predicate string, limit time.Duration) {
	b.t.Helper()
	if err := b.do(limit+time.Second, chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(limit), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return chromedp.Void{}, err
	})); err != nil {
		b.screenshot("failed")
		b.t.Fatalf("the page did not show %s within %v: %v\n%s", what, limit, err, b.text())
	}
}

// text is the page's visible text, for failure messages.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

// screenshot saves the whole page as name.png.
func (b *browser) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// problems are the console's errors and warnings so far: script errors,
// CSP violations, failed loads, dialogs.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			out = append(out, m.String())
		}
	}
	return out
}

// agent is one autoupdate process of the test's fleet.
type agent struct {
	cmd  *exec.Cmd
	out  *realparts.SyncBuffer
	done chan error
}

// startFleet starts one real autoupdate per host against ch, each with its
// own state directory and dpkg sandbox root, polling every 200ms; they
// are stopped with SIGTERM when t ends.
func startFleet(t *testing.T, srv *testenv.S3Server, ch release.Address, hosts ...string) {
	bin, err := realparts.BuildGo(t.Context(), t.TempDir(), "autoupdate", "github.com/debfleet/debfleet/cmd/autoupdate", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		a := &agent{out: &realparts.SyncBuffer{}, done: make(chan error, 1)}
		a.cmd = exec.Command(bin, "--source", ch.String(), "--package", "hello", "--state-dir", t.TempDir(),
			"--dpkg-root", testenv.DpkgRoot(t), "--host", h, "--endpoint", srv.Endpoint, "--interval", "200ms",
			"--env-file", os.DevNull, "--allow-unsigned")
		a.cmd.Env = append(os.Environ(), srv.Env()...)
		a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
		if err := a.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { a.done <- a.cmd.Wait() }()
		t.Cleanup(func() {
			a.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.done:
			case <-time.After(10 * time.Second):
				a.cmd.Process.Kill()
				<-a.done
			}
			if t.Failed() {
				t.Logf("agent %s:\n%s", h, a.out.String())
			}
		})
	}
}

// waitStatus waits until every host's status object satisfies done.
func waitStatus(t *testing.T, fc *fleet.Client, ch release.Address, hosts []string, what string, done func(fleet.HostStatus) bool) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var last *fleet.FleetStatus
	err := realparts.WaitFor(ctx, what, func() bool {
		fs, err := fc.ReadStatus(ctx, ch)
		if err != nil {
			return false
		}
		last = fs
		n := 0
		for _, st := range fs.Hosts {
			if done(st) {
				n++
			}
		}
		return n >= len(hosts)
	})
	if err != nil {
		t.Fatalf("%v (last: %s)", err, last.Describe())
	}
	return time.Now()
}

// rowShows is a predicate: host's row in the hosts table has version
// and, when state is not "", that state.
func rowShows(host, version, state string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("table.hosts tbody tr")].some(r =>
		r.querySelector(".host").textContent === %q && r.cells[1].textContent === %q && (%q === "" || r.cells[2].textContent === %q))`,
		host, version, state, state)
}

// TestBrowser drives the page in headless chromium while a fleet of
// three real agents follows a channel on versitygw: the page lists the
// hosts, follows an upgrade within seconds without a reload, shows a halt
// and its reason, renders a hostile status object as text, and logs no
// console error (no script error, no CSP violation, no dialog).
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	srv := s3env.Server(t)
	c := newClient(t, srv, "")
	fc := fleet.New(c.Records(), nil)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	hosts := []string{"web-1", "web-2", "web-3"}
	publish(t, c, ch, "1.0", nil)
	startFleet(t, srv, ch, hosts...)
	waitStatus(t, fc, ch, hosts, "three hosts on 1.0", func(st fleet.HostStatus) bool { return st.Version == "1.0" && st.State == fleet.StateOK })

	_, url := startDashboard(t, Options{Client: c, Bucket: ch.Bucket, Interval: 500 * time.Millisecond})
	if err := b.do(30*time.Second, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		b.waitFor(h+" on 1.0", rowShows(h, "1.0", "ok"), 10*time.Second)
	}
	b.waitFor("the live indicator", `document.getElementById("live").textContent === "live"`, 10*time.Second)
	b.screenshot("1-fleet-on-1.0")
	browseUpgrade(t, b, c, ch, hosts)
	browseHalt(t, b, c, ch)
	browseHostile(t, b, fc, ch)
	browseWindowAndHold(t, b, fc, ch)

	// The page never reloaded: the hooks' mark of the first load is there.
	b.waitFor("the first load's mark", `typeof window.__loaded === "number"`, time.Second)
	// Keyboard: the first Tab reaches the skip link.
	if err := b.do(10*time.Second, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	b.waitFor("focus on the skip link", `document.activeElement && document.activeElement.className === "skip"`, 2*time.Second)
	b.screenshot("4-hostile-1280x800")
	if err := b.do(10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the hosts table on a phone", `document.querySelector("table.hosts") !== null`, 2*time.Second)
	b.screenshot("5-phone-390x844")
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the console shows %d errors or warnings:\n%s", len(p), strings.Join(p, "\n"))
	}
}

// browseUpgrade publishes 1.1: the page follows each host within a few
// seconds of its status object, without a reload.
func browseUpgrade(t *testing.T, b *browser, c *release.Client, ch release.Address, hosts []string) {
	fc := fleet.New(c.Records(), nil)
	publish(t, c, ch, "1.1", nil)
	waitStatus(t, fc, ch, hosts[:1], "a host on 1.1", func(st fleet.HostStatus) bool { return st.Version == "1.1" && st.State == fleet.StateOK })
	b.waitFor("the first host on 1.1", `[...document.querySelectorAll("table.hosts tbody tr")].some(r => r.cells[1].textContent === "1.1")`, 5*time.Second)
	waitStatus(t, fc, ch, hosts, "three hosts on 1.1", func(st fleet.HostStatus) bool { return st.Version == "1.1" && st.State == fleet.StateOK })
	for _, h := range hosts {
		b.waitFor(h+" on 1.1", rowShows(h, "1.1", "ok"), 5*time.Second)
	}
	b.waitFor("converged", `document.querySelector("section.channel.converged") !== null`, 5*time.Second)
	b.screenshot("2-fleet-on-1.1")
}

// browseHalt publishes a staged 1.2 and halts it with a reason: the page
// shows the halt, its reason, and the halt on the chart.
func browseHalt(t *testing.T, b *browser, c *release.Client, ch release.Address) {
	p := fleet.Policy{Waves: []float64{1, 100}, WaveInterval: time.Hour, HaltAfter: 2}
	m := publish(t, c, ch, "1.2", &p)
	const reason = "p99 latency up on web-1"
	if _, _, err := fleet.New(c.Records(), nil).Halt(t.Context(), ch, m.SHA256, m.Version, "ops@test", reason); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the halt and its reason", fmt.Sprintf(`[...document.querySelectorAll(".halt .reason")].some(e => e.textContent.includes(%q))`, reason), 10*time.Second)
	b.waitFor("the halt on the chart", `document.querySelector("svg .halt-line") !== null`, 5*time.Second)
	b.waitFor("the halt in the list of channels", `[...document.querySelectorAll("nav .badge")].some(e => e.textContent === "halted")`, 5*time.Second)
	b.screenshot("3-halted")
}

// browseHostile writes a status object anyone with an agent's key could
// write, with markup in every field: the page shows it as text.
func browseHostile(t *testing.T, b *browser, fc *fleet.Client, ch release.Address) {
	hostile := `<img src=x onerror=alert(1)>`
	bad := &fleet.HostStatus{Host: hostile, Version: `"><script>alert(2)</script>`, State: "failed",
		Error: `</td><script>alert(3)</script><a href="javascript:alert(4)">x</a>`, Since: time.Now(), Time: time.Now()}
	if err := fc.PutStatus(t.Context(), ch, bad); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the hostile host name as text", fmt.Sprintf(`[...document.querySelectorAll("table.hosts .host")].some(e => e.textContent === %q)`, hostile), 10*time.Second)
	b.waitFor("the hostile error as text", fmt.Sprintf(`[...document.querySelectorAll("table.hosts td.err")].some(e => e.textContent === %q)`, bad.Error), 5*time.Second)
	b.waitFor("no element from a status object", `document.querySelectorAll("main img, main script, main a[href^='javascript']").length === 0`, time.Second)
}

// browseWindowAndHold writes the status objects of a host waiting for a
// maintenance window and of one held by its service, as their agents
// write them: the page shows each state, its colour in the legend and its
// reason, the service's reason as text.
func browseWindowAndHold(t *testing.T, b *browser, fc *fleet.Client, ch release.Address) {
	now := time.Now().UTC()
	opens := now.Add(3 * time.Hour).Truncate(time.Second)
	window := "outside the maintenance window Mon-Fri 09:00-17:00 Europe/London; next opens " + opens.Format(time.RFC3339)
	hold := `draining <b>3</b> jobs`
	for _, st := range []*fleet.HostStatus{
		{Host: "web-window", Version: "1.1", State: fleet.StateWaiting, Target: &fleet.HostRelease{Version: "1.2"},
			Rollout: &fleet.HostRollout{Wave: 1, Waves: 1, Percent: 100, Waiting: window, Window: "Mon-Fri 09:00-17:00 Europe/London", WindowOpens: opens}},
		{Host: "web-held", Version: "1.1", State: fleet.StateHeld, Target: &fleet.HostRelease{Version: "1.2"},
			Hold: &fleet.HostHold{Reason: hold, Since: now, Until: now.Add(30 * time.Minute)}},
	} {
		st.Package, st.Since, st.Time = "hello", now, now
		if err := fc.PutStatus(t.Context(), ch, st); err != nil {
			t.Fatal(err)
		}
	}
	b.waitFor("the host waiting for its window", rowShows("web-window", "1.1", "waiting (window)"), 10*time.Second)
	b.waitFor("the held host", rowShows("web-held", "1.1", "held"), 5*time.Second)
	b.waitFor("why it waits", fmt.Sprintf(`[...document.querySelectorAll("table.hosts tr.window td.err")].some(e => e.textContent === %q)`, window), 5*time.Second)
	b.waitFor("the service's reason, as text", fmt.Sprintf(`[...document.querySelectorAll("table.hosts tr.held td.err")].some(e => e.textContent.includes(%q))`, hold), 5*time.Second)
	b.waitFor("both in the legend", `[...document.querySelectorAll(".legend li")].some(e => e.textContent.startsWith(" waiting for a maintenance window: 1")) &&
		[...document.querySelectorAll(".legend li")].some(e => e.textContent.startsWith(" held by its service: 1"))`, 5*time.Second)
	b.waitFor("their own colours", `getComputedStyle(document.querySelector(".cells .cell.window")).backgroundColor !== getComputedStyle(document.querySelector(".cells .cell.held")).backgroundColor &&
		getComputedStyle(document.querySelector(".cells .cell.held")).backgroundColor !== "rgba(0, 0, 0, 0)"`, 5*time.Second)
	b.waitFor("no element from a hold reason", `document.querySelectorAll("main td.err b").length === 0`, time.Second)
	b.screenshot("3b-window-and-held")
}
