// Package state keeps the agent's memory on disk: which release is
// installed, which one it is installing, the previous release's .deb for a
// local rollback, the SHA-256s this host refuses, and the last ETag seen.
//
// Everything lives in one directory (mode 0700, files 0600) that one agent
// owns at a time: Open takes an exclusive flock on its lock file, so a second
// agent on the same directory fails at once with ErrLocked instead of racing
// the first through dpkg. Every write is atomic (temporary file, fsync,
// rename, fsync of the directory), so a kill -9 at any instant leaves either
// the old or the new content, never a torn file.
package state
