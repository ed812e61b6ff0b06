package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/debfleet/debfleet/release"
)

// printAdvice writes to w, after the error err with which the command cmd
// failed, what to do about it in pkgdeb's own terms (its commands and
// flags), when there is something to add. The libraries name the problem
// and return a sentinel error; only pkgdeb knows which of its flags
// overrides it, and on which command it exists.
func printAdvice(w io.Writer, cmd string, err error) {
	var a string
	switch {
	case errors.Is(err, release.ErrNotVersioned) && (cmd == "publish" || cmd == "promote"):
		a = "pass --allow-unversioned to " + cmd + " anyway: the release it replaces is then lost (no history, no rollback)"
	case errors.Is(err, release.ErrInsecureEndpoint):
		a = "pass --insecure-endpoint if you really mean it"
	case errors.Is(err, release.ErrSignedChange) && cmd == "promote":
		a = "pass --sign-key KEY to re-sign it for the destination"
	case errors.Is(err, release.ErrNotPrivateKey):
		a = "make a key pair with: pkgdeb keygen --out NAME, then give --sign-key NAME.key"
	default:
		return
	}
	fmt.Fprintf(w, "(%s)\n", a)
}
