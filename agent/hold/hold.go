// Package hold asks a service whether it may be updated now. A service
// says "not now" with a hold file (it exists: hold; its first line is why)
// or a hold URL (423 Locked: hold; the body's first line is why). The
// agent asks before it commits to an update; see Checker for what each
// answer means, failures included.
//
// The service writes what is read here and the agent runs as root: the
// file is opened without following a symbolic link and without blocking,
// only a regular file with one link is read, and at most 4 KiB of either
// source is read; the reason kept is one line of printable characters,
// at most fleet.MaxHoldReason bytes.
package hold

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/debfleet/debfleet/fleet"
)

// DefaultTimeout bounds one request to the hold URL.
const DefaultTimeout = 5 * time.Second

// maxRead bounds what is read of the hold file or the hold URL's body.
const maxRead = 4 << 10

// Checker asks a service whether it holds its update. The zero value
// (no File, no URL) never holds.
type Checker struct {
	// File is the hold file: while it exists, the service holds its
	// update. Missing (or its directory missing): no hold. Its first
	// line is the reason. A symbolic link, a file that is not regular
	// or has several links, or one that cannot be read still holds
	// (something is there), but is not read: root must not follow a
	// link the service's user planted, block on a FIFO or read a file
	// linked from elsewhere.
	File string
	// URL is the hold URL, asked with a GET (no proxy, no redirect,
	// Timeout): 423 holds, with the body's first line as the reason;
	// 200 and 404 do not; a refused connection (nothing listens: the
	// service is not running, as on a new server) does not. Anything
	// else (a timeout, a reset, another status) holds, and says so:
	// a service too busy to answer is the one not to restart, and the
	// agent's max-hold bounds it.
	URL string
	// Timeout bounds the request to URL; default DefaultTimeout.
	Timeout time.Duration
	// Client makes the request; default a client without proxy or
	// redirects.
	Client *http.Client
}

// Check asks the service, and returns whether it holds its update and
// why. It never fails: every failure is an answer (see Checker).
func (c *Checker) Check(ctx context.Context) (reason string, held bool) {
	var reasons []string
	if c.File != "" {
		if r, h := checkFile(c.File); h {
			reasons = append(reasons, r)
		}
	}
	if c.URL != "" {
		if r, h := c.checkURL(ctx); h {
			reasons = append(reasons, r)
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// checkFile reads the hold file at path.
func checkFile(path string) (reason string, held bool) {
	const flags = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_CLOEXEC
	fd, err := openRetry(path, flags)
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		return "", false
	case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EMLINK):
		return "hold file " + path + " is a symbolic link (not read)", true
	case errors.Is(err, syscall.ENXIO):
		return "hold file " + path + " is a socket (not read)", true
	case err != nil:
		return fmt.Sprintf("hold file %s exists but cannot be opened (%v)", path, err), true
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Sprintf("hold file %s exists but cannot be read (%v)", path, err), true
	}
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return "hold file " + path + " is not a regular file (not read)", true
	case st.Nlink != 1:
		return fmt.Sprintf("hold file %s has %d hard links (not read)", path, st.Nlink), true
	}
	buf := make([]byte, maxRead)
	n, err := readFull(fd, buf)
	if err != nil {
		return fmt.Sprintf("hold file %s exists but cannot be read (%v)", path, err), true
	}
	return cmp.Or(Reason(buf[:n]), "the hold file gives no reason"), true
}

func openRetry(path string, flags int) (int, error) {
	for range 100 {
		fd, err := syscall.Open(path, flags, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
	return -1, syscall.EINTR
}

// readFull reads into buf until it is full or the file ends.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return n, err
		case m == 0:
			return n, nil
		}
		n += m
	}
	return n, nil
}

// checkURL asks the hold URL.
func (c *Checker) checkURL(ctx context.Context) (reason string, held bool) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return fmt.Sprintf("hold URL cannot be asked (%v)", err), true
	}
	client := c.Client
	if client == nil {
		client = directClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "", false // nothing listens: no service to protect
		}
		what := "failed"
		if errors.Is(err, context.DeadlineExceeded) {
			what = "timed out"
		}
		return fmt.Sprintf("hold URL did not answer (%s); held until it answers 200, 404 or 423", what), true
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNotFound:
		return "", false
	case http.StatusLocked:
		return cmp.Or(Reason(body), "the hold URL gives no reason"), true
	}
	return fmt.Sprintf("hold URL answered %d; held until it answers 200, 404 or 423", resp.StatusCode), true
}

// directClient asks the hold URL directly: no proxy from the agent's
// environment (the URL is on this host), no redirect followed, no
// connection kept between polls.
func directClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Reason makes a service's hold text fit a status object: its first
// line, invalid UTF-8 and characters that do not print (controls, bidi
// overrides) replaced by "?", surrounding spaces trimmed, at most
// fleet.MaxHoldReason bytes.
func Reason(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	var out strings.Builder
	for _, r := range strings.TrimSpace(line) {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if out.Len()+utf8.RuneLen(r) > fleet.MaxHoldReason {
			break
		}
		out.WriteRune(r)
	}
	return out.String()
}
