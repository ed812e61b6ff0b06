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
	case cmd == "rollback" && errors.Is(err, release.ErrUntrustedTarget):
		a = untrustedAdvice(err)
	case cmd == "rollback" && errors.Is(err, release.ErrChecksumMismatch):
		a = "its bytes are not those its manifest describes: pick another version with --to VERSIONID (see pkgdeb history)"
	case errors.Is(err, release.ErrNotPrivateKey):
		a = "make a key pair with: pkgdeb keygen --out NAME, then give --sign-key NAME.key"
	default:
		return
	}
	fmt.Fprintf(w, "(%s)\n", a)
}

// untrustedAdvice says what to do about a rollback target that no trusted
// key signed, by the reason.
func untrustedAdvice(err error) string {
	switch {
	case errors.Is(err, release.ErrUnsigned):
		return "if you trust this unsigned version (check it with pkgdeb history), pass --allow-unsigned-target with --to VERSIONID"
	case errors.Is(err, release.ErrUnknownKey):
		return "if you trust the key that signed it, pass its public key with --public-key FILE"
	case errors.Is(err, release.ErrBadSignature):
		return "its manifest was changed after it was signed: pick another version with --to VERSIONID (see pkgdeb history)"
	}
	return "name the version with --to VERSIONID (see pkgdeb history), with --public-key FILE for the key that signed it, or --allow-unsigned-target if it is unsigned"
}
