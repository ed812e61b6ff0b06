package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/configfile"
	"github.com/debfleet/debfleet/release"
)

// kindFlags are publish's flags for what it publishes: a .deb, or a
// service's configuration file (--kind config), and how S3 encrypts it.
type kindFlags struct {
	kind         string
	pkg          string
	version      string
	checkCmd     string
	checkTimeout time.Duration
	sse          string
	kmsKeyID     string
}

func (f *kindFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "kind", release.KindDeb, "what FILE is: deb (a Debian package) or config (a service's environment file, for autoupdate --config-source)")
	fs.StringVar(&f.pkg, "package", "", "with --kind config: the `service` the configuration is for, e.g. hello (required)")
	fs.StringVar(&f.version, "version", "", "with --kind config: the release's `version` (default: the UTC time, e.g. 2026.12.02-063000)")
	fs.StringVar(&f.checkCmd, "check-cmd", "", "with --kind config: run this shell `command` with the file's path as $1 first, and publish nothing unless it exits 0, e.g. 'grep -q \"^HELLO_GREETING=\" \"$1\"'")
	fs.DurationVar(&f.checkTimeout, "check-timeout", configfile.DefaultCheckTimeout, "how long --check-cmd may run (`duration`)")
	fs.StringVar(&f.sse, "sse", "", "server-side encryption: aws:kms (a KMS key; readers need kms:Decrypt on it) or AES256 (default: the bucket's)")
	fs.StringVar(&f.kmsKeyID, "kms-key-id", "", "with --sse aws:kms: the KMS key's ARN (or `ID`, or alias/NAME, resolved in the publisher's account; default: the account's aws/s3 key)")
}

// check refuses flags that do not go with --kind.
func (f *kindFlags) check(fs *flag.FlagSet) error {
	switch f.kind {
	case release.KindDeb:
		var bad []string
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "package", "version", "check-cmd", "check-timeout":
				bad = append(bad, "--"+fl.Name)
			}
		})
		if len(bad) > 0 {
			return cli.Usagef("%s only go with --kind config: a .deb names its own package and version", bad)
		}
	case release.KindConfig:
		if f.pkg == "" {
			return cli.Usagef("--kind config needs --package: the service the configuration is for (autoupdate --package on the hosts), e.g. --package hello")
		}
		if !serviceName.MatchString(f.pkg) {
			return cli.Usagef("--package %q: want a service's name, lowercase letters, digits and + - . _ (as a Debian package name)", f.pkg)
		}
		if f.version != "" && !configVersion.MatchString(f.version) {
			return cli.Usagef("--version %q: want letters, digits and . + ~ : _ - (at most 64, starting with a letter or digit), e.g. 2026.12.02-1 or v42", f.version)
		}
		if f.checkTimeout <= 0 {
			return cli.Usagef("--check-timeout must be above 0")
		}
	default:
		return cli.Usagef("--kind %q: want deb or config", f.kind)
	}
	if err := f.encryption().Validate(); err != nil {
		return cli.Usagef("--sse/--kms-key-id: %v", err)
	}
	return nil
}

// serviceName is what --package accepts: a Debian package name, which is
// what names a service on the hosts.
var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.\-_]{0,99}$`)

// configVersion is what --version accepts: one word that pkgdeb rollback
// --to can name, sorting as people expect.
var configVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~:_\-]{0,63}$`)

func (f *kindFlags) encryption() release.Encryption {
	return release.Encryption{SSE: f.sse, KMSKeyID: f.kmsKeyID}
}

// releaseBody is what publish uploads: an open .deb, or a configuration
// held in memory.
type releaseBody interface {
	io.ReaderAt
	io.Closer
}

// memBody is a configuration's bytes, uploaded from memory: the bytes
// that were checked, whatever happens to the file afterwards.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// prepareConfig reads and checks the configuration file, runs the check
// command, and describes the file. Nothing is uploaded when it fails, and
// no error quotes the file: its values may be secrets.
func prepareConfig(ctx context.Context, file string, kf *kindFlags) (*release.Manifest, releaseBody, error) {
	cfg, err := configfile.Read(file)
	if err != nil {
		return nil, nil, fmt.Errorf("publish %s: nothing uploaded: %w", file, err)
	}
	if kf.checkCmd != "" {
		if err := configfile.RunCheck(ctx, cfg, kf.checkCmd, kf.checkTimeout); err != nil {
			return nil, nil, fmt.Errorf("publish %s: --check-cmd failed, nothing uploaded: %w", file, err)
		}
		// The check read the file by its path: what it checked must be
		// what goes up.
		again, err := configfile.Read(file)
		if err != nil || !bytes.Equal(again.Bytes, cfg.Bytes) {
			return nil, nil, fmt.Errorf("publish %s: the file changed while --check-cmd ran, nothing uploaded", file)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	sum := sha256.Sum256(cfg.Bytes)
	return &release.Manifest{
		Kind:        release.KindConfig,
		Package:     kf.pkg,
		Version:     cmp.Or(kf.version, now.Format("2006.01.02-150405")),
		SHA256:      hex.EncodeToString(sum[:]),
		Size:        int64(len(cfg.Bytes)),
		PublishedAt: now,
	}, memBody{bytes.NewReader(cfg.Bytes)}, nil
}

// kindNote names what a manifest describes in publish's output: "hello
// 1.2.3" for a package, "configuration of hello, version V" otherwise.
func kindNote(m *release.Manifest) string {
	if m.IsDeb() {
		return m.Package + " " + m.Version
	}
	return fmt.Sprintf("%s of %s, version %s", m.Kind, m.Package, m.Version)
}

// sizeNote gives a size in MiB, or in bytes under 1 MiB (a configuration).
func sizeNote(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return mib(n)
}
