package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned (wrapped) by Open when another process holds the
// directory's lock.
var ErrLocked = errors.New("state directory is locked by another agent")

const (
	lockName  = "lock"
	stateName = "state.json"
	debDir    = "debs"
	// tmpPrefix marks files that are not yet complete; Open removes any
	// left by a killed agent.
	tmpPrefix = ".tmp-"
)

// Release identifies one release as the agent saw it in the channel.
type Release struct {
	// Package and Version are the .deb's control fields.
	Package string `json:"package"`
	Version string `json:"version"`
	// SHA256 is the hex SHA-256 of the whole .deb: the release's identity.
	SHA256 string `json:"sha256"`
	// VersionID is the S3 object version the .deb was downloaded from,
	// and ETag that version's ETag (two versions with one ETag hold the
	// same bytes, unless encrypted with KMS).
	VersionID string `json:"version_id,omitempty"`
	ETag      string `json:"etag,omitempty"`
	// PublishedAt is the signed publication time, used to refuse replays.
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Deb is the name of the kept .deb inside the state directory's debs/
	// folder ("" when the file is not kept).
	Deb string `json:"deb,omitempty"`
	// Slots and HaltAfter are the update slots and the halt-after of the
	// rollout policy the install was admitted under (0: none), so that an
	// install interrupted by a restart takes a slot again and counts its
	// failure as the first attempt would have.
	Slots     int `json:"slots,omitempty"`
	HaltAfter int `json:"halt_after,omitempty"`
}

// Bad records why a SHA-256 is refused on this host.
type Bad struct {
	Version string    `json:"version,omitempty"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// State is everything the agent persists between runs.
type State struct {
	// Installed is the release the agent last installed and proved
	// healthy; nil before the first one.
	Installed *Release `json:"installed,omitempty"`
	// Previous is the release installed before Installed, whose .deb is
	// kept for a local rollback; nil when there is none.
	Previous *Release `json:"previous,omitempty"`
	// Installing is the intent record: set (and saved) before dpkg runs,
	// cleared once the release is proved healthy or rolled back. Found set
	// at startup, it means the agent was killed mid-install.
	Installing *Release `json:"installing,omitempty"`
	// Bad holds the SHA-256s never to install again on this host.
	Bad map[string]Bad `json:"bad,omitempty"`
	// ETag and SeenVersionID are the channel's current version at the
	// last check that was settled (installed, skipped or refused): a
	// check that finds both unchanged does nothing. The VersionId counts
	// because a rollback that re-signs a release writes the same bytes
	// (so the same ETag) with a new manifest.
	ETag          string `json:"etag,omitempty"`
	SeenVersionID string `json:"seen_version_id,omitempty"`
}

// Seen reports whether the channel's current version, versionID with
// etag, is the one the last settled check saw.
func (s *State) Seen(versionID, etag string) bool {
	return etag != "" && s.ETag == etag && s.SeenVersionID == versionID
}

// IsBad reports whether sha256 is marked bad on this host.
func (s *State) IsBad(sha256 string) bool {
	_, ok := s.Bad[sha256]
	return ok
}

// MarkBad records sha256 as bad on this host.
func (s *State) MarkBad(sha256, version, reason string, at time.Time) {
	if s.Bad == nil {
		s.Bad = make(map[string]Bad)
	}
	s.Bad[sha256] = Bad{Version: version, Reason: reason, At: at.UTC()}
}

// Dir is an open, locked state directory.
type Dir struct {
	path string
	lock *os.File
}

// Open creates the state directory if needed, makes it private (0700) and
// takes its lock. It removes temporary files a killed agent left behind.
// When another process holds the lock it fails at once with an error that
// wraps ErrLocked. Close releases the lock.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("open state directory: empty path")
	}
	if err := os.MkdirAll(filepath.Join(path, debDir), 0o700); err != nil {
		return nil, fmt.Errorf("open state directory: %w", err)
	}
	// MkdirAll keeps the mode of a directory that already exists.
	for _, p := range []string{path, filepath.Join(path, debDir)} {
		if err := os.Chmod(p, 0o700); err != nil {
			return nil, fmt.Errorf("open state directory: %w", err)
		}
	}
	lockPath := filepath.Join(path, lockName)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open state directory %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", path, err)
	}
	d := &Dir{path: path, lock: f}
	if err := d.removeTemps(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// Close releases the lock.
func (d *Dir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close() // closing the descriptor drops the flock
	d.lock = nil
	return err
}

func (d *Dir) removeTemps() error {
	for _, dir := range []string{d.path, filepath.Join(d.path, debDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("clean state directory: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("clean state directory: %w", err)
				}
			}
		}
	}
	return nil
}

// Load reads the saved state. A directory without one gives the zero State.
func (d *Dir) Load() (*State, error) {
	b, err := os.ReadFile(filepath.Join(d.path, stateName))
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("load state %s: %w", filepath.Join(d.path, stateName), err)
	}
	return &s, nil
}

// Save writes s atomically.
func (d *Dir) Save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := WriteFile(filepath.Join(d.path, stateName), append(b, '\n')); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// CreateTemp creates a private temporary file for a download in the debs
// folder. Open removes such files if the agent dies before KeepDeb.
func (d *Dir) CreateTemp() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(d.path, debDir), tmpPrefix+"*.deb")
	if err != nil {
		return nil, fmt.Errorf("create download file: %w", err)
	}
	return f, nil // CreateTemp already uses mode 0600
}

// KeepDeb fsyncs the completed temporary file f, closes it and renames it
// to the name the state refers to for sha256. It returns that name.
func (d *Dir) KeepDeb(f *os.File, sha256 string) (string, error) {
	return d.Keep(f, sha256, ".deb")
}

// Keep is KeepDeb for a release of any kind: the kept file is named
// sha256 followed by ext (".deb", ".conf"), in the same private folder,
// found with DebPath and pruned by PruneDebs.
func (d *Dir) Keep(f *os.File, sha256, ext string) (string, error) {
	if !validSHA256(sha256) {
		f.Close()
		return "", fmt.Errorf("keep .deb: invalid sha256 %q", sha256)
	}
	name := sha256 + ext
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("keep .deb: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("keep .deb: %w", err)
	}
	dir := filepath.Join(d.path, debDir)
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("keep .deb: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("keep .deb: %w", err)
	}
	return name, nil
}

// DebPath returns the path of a kept .deb named by Release.Deb.
func (d *Dir) DebPath(name string) string {
	return filepath.Join(d.path, debDir, filepath.Base(name))
}

// PruneDebs removes every kept .deb that s does not refer to, so the
// directory holds at most the installed, previous and installing releases.
func (d *Dir) PruneDebs(s *State) error {
	keep := make(map[string]bool)
	for _, r := range []*Release{s.Installed, s.Previous, s.Installing} {
		if r != nil && r.Deb != "" {
			keep[r.Deb] = true
		}
	}
	dir := filepath.Join(d.path, debDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune .debs: %w", err)
	}
	for _, e := range entries {
		if keep[e.Name()] || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("prune .debs: %w", err)
		}
	}
	return nil
}

// WriteFile writes data to path atomically with mode 0600: a temporary file
// in the same directory, fsync, rename over path, fsync of the directory.
// Readers, and an agent restarted after a crash, see the old or the new
// content, never a mix.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
