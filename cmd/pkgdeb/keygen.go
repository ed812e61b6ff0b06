package main

import (
	"context"
	"fmt"
	"io"

	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const keygenHelp = `Usage: pkgdeb keygen --out NAME

Create an ed25519 key pair for signing releases: NAME.key, the private key
(PKCS #8 PEM, mode 0600; give it to the publisher, e.g. as a CI secret)
and NAME.pub, the public key (PKIX PEM; give it to every agent and to
pkgdeb promote --public-key). The key id printed (and recorded in each
signed manifest) is the first 16 hex digits of the SHA-256 of the public
key. Existing files are never overwritten.

Example:
  pkgdeb keygen --out ci-release
  pkgdeb publish --sign-key ci-release.key hello.deb s3://acme-releases/hello/staging.deb

Flags:
`

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb keygen", keygenHelp, stderr)
	out := fs.String("out", "", "write `NAME`.key and NAME.pub (required)")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return cli.Usagef("unexpected arguments %q; name the output with --out", pos)
	}
	if *out == "" {
		return cli.Usagef("--out NAME is required")
	}
	k, err := release.GenerateKey()
	if err != nil {
		return err
	}
	keyPath, pubPath, err := release.WriteKeyPair(*out, k)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (private, mode 0600) and %s; key id %s\n", keyPath, pubPath, k.ID())
	return nil
}
