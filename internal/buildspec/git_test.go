package buildspec

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
)

func TestDescribeToVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"V2.0", "2.0"},
		{"v1.2.3-0-gabcdef0", "1.2.3"},
		{"v1.2.3-4-gabcdef", "1.2.3+git4.abcdef"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-rc.1-0-g1234567", "1.2.3~rc.1"},
		{"v1.2.3-rc.1-2-g1234567", "1.2.3~rc.1+git2.1234567"},
		{"v1.2.3-beta-2", "1.2.3~beta.2"},
		{"v1.2.3+build.5", "1.2.3+build.5"},
		{"v1.2.3-rc1+meta-x", "1.2.3~rc1+meta.x"},
		{"v1.2.3_fix", "1.2.3.fix"},
		{"v10.0.0-15-g0123abc\n", "10.0.0+git15.0123abc"},
	}
	for _, tt := range tests {
		got, err := DescribeToVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("DescribeToVersion(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "release", "v", "vx1", "latest-3-gabcdef0"} {
		if got, err := DescribeToVersion(bad); err == nil || !strings.Contains(err.Error(), "is not a version") {
			t.Errorf("DescribeToVersion(%q) = %q, %v; want a 'not a version' error", bad, got, err)
		}
	}
}

// gitRepo is a real git repository in a temporary directory, with commits
// at fixed times so that the test does not depend on the clock.
type gitRepo struct {
	t   *testing.T
	dir string
	n   int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	testenv.LookTool(t, "git")
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes a commit dated unix seconds and returns its short hash.
func (r *gitRepo) commit(unix int64) string {
	r.t.Helper()
	r.n++
	if err := os.WriteFile(filepath.Join(r.dir, "f"), []byte{byte(r.n)}, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "f")
	date := time.Unix(unix, 0).UTC().Format(time.RFC3339)
	cmd := []string{"commit", "-q", "-m", "c", "--date", date}
	r.t.Setenv("GIT_COMMITTER_DATE", date)
	r.git(cmd...)
	return r.git("rev-parse", "--short=7", "HEAD")
}

func TestGitVersionAndScript(t *testing.T) {
	r := newGitRepo(t)
	ctx := context.Background()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "version"))
	if err != nil {
		t.Fatal(err)
	}
	// scripts/version (used by the Makefile) must agree with the Go code.
	runScript := func() (string, error) {
		out, err := exec.Command(script, r.dir).Output()
		return strings.TrimSpace(string(out)), err
	}

	if v, err := GitVersion(ctx, r.dir); err == nil {
		t.Errorf("no commit: GitVersion = %q, want an error", v)
	}
	if v, err := runScript(); err == nil {
		t.Errorf("no commit: scripts/version = %q, want a failure", v)
	}

	steps := []struct {
		name string
		do   func() string // returns the expected version
	}{
		{"no tag", func() string { return "0.0.0+git1." + r.commit(1700000000) }},
		{"two commits, no tag", func() string { return "0.0.0+git2." + r.commit(1700000100) }},
		{"on v1.2.3", func() string { r.git("tag", "v1.2.3"); return "1.2.3" }},
		{"after v1.2.3", func() string { return "1.2.3+git1." + r.commit(1700000200) }},
		{"on v1.3.0-rc.1", func() string { r.git("tag", "-a", "-m", "rc", "v1.3.0-rc.1"); return "1.3.0~rc.1" }},
		{"two commits after v1.3.0-rc.1", func() string { r.commit(1700000300); return "1.3.0~rc.1+git2." + r.commit(1700000400) }},
	}
	for _, st := range steps {
		want := st.do()
		got, err := GitVersion(ctx, r.dir)
		if err != nil || got != want {
			t.Errorf("%s: GitVersion = %q, %v; want %q", st.name, got, err, want)
		}
		if got, err := runScript(); err != nil || got != want {
			t.Errorf("%s: scripts/version = %q, %v; want %q", st.name, got, err, want)
		}
	}
	r.git("tag", "nightly")
	if v, err := GitVersion(ctx, r.dir); err == nil || !strings.Contains(err.Error(), `git tag "nightly" is not a version`) {
		t.Errorf("non-version tag: GitVersion = %q, %v", v, err)
	}
	if v, err := runScript(); err == nil {
		t.Errorf("non-version tag: scripts/version = %q, want a failure", v)
	}
}

func TestResolveVersionFromGit(t *testing.T) {
	r := newGitRepo(t)
	r.commit(1700000000)
	r.git("tag", "v2.0.0")
	s := minimal(r.dir)
	s.Version, s.VersionFromGit = "", true
	got, err := s.Resolve(context.Background(), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Control.Version != "2.0.0" {
		t.Errorf("version = %q, want 2.0.0", got.Control.Version)
	}
	if !got.ModTime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("ModTime = %v, want the commit time", got.ModTime)
	}
}

func TestModTime(t *testing.T) {
	ctx := context.Background()
	r := newGitRepo(t)
	sub := filepath.Join(r.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// An empty repository has no commit time: the epoch.
	if got, err := ModTime(ctx, r.dir, envOf(nil).getenv); err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("empty repo: ModTime = %v, %v; want the epoch", got, err)
	}
	r.commit(1600000000)
	r.commit(1650000000)
	tests := []struct {
		name string
		dir  string
		env  map[string]string
		want int64
	}{
		{"SOURCE_DATE_EPOCH wins", r.dir, map[string]string{"SOURCE_DATE_EPOCH": "1234567890"}, 1234567890},
		{"SOURCE_DATE_EPOCH zero", r.dir, map[string]string{"SOURCE_DATE_EPOCH": "0"}, 0},
		{"latest commit", r.dir, nil, 1650000000},
		{"from a subdirectory", sub, nil, 1650000000},
		{"not a repository", t.TempDir(), nil, 0},
	}
	for _, tt := range tests {
		got, err := ModTime(ctx, tt.dir, envOf(tt.env).getenv)
		if err != nil || !got.Equal(time.Unix(tt.want, 0)) {
			t.Errorf("%s: ModTime = %v, %v; want %v", tt.name, got, err, time.Unix(tt.want, 0).UTC())
		}
	}
	for _, bad := range []string{"-1", "soon", "1.5"} {
		if _, err := ModTime(ctx, r.dir, envOf(map[string]string{"SOURCE_DATE_EPOCH": bad}).getenv); err == nil {
			t.Errorf("SOURCE_DATE_EPOCH=%q accepted", bad)
		}
	}
}
