package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const historyHelp = `Usage: pkgdeb history [flags] s3://BUCKET/KEY

List every version of a release channel, newest first: VersionId, when it
was published, package version, SHA-256 (short), size, publisher, whether
it is signed (and by which key id), and which version is current (*).
Delete markers are listed too, and so are plain uploads (aws s3 cp, the S3
console: no manifest), with the package, version and architecture in
their .deb's control file, read with one ranged GET of the object's first
64 KiB (a second, up to 1 MiB, when the control member is larger). Those
are unsigned: whoever could write to the bucket chose them.

On a configuration channel (pkgdeb publish --kind config) plain uploads
are not read: they are not .debs, and what they hold may be secret.
Nothing history prints comes from a release's bytes.

Examples:
  pkgdeb history s3://acme-releases/hello/production.deb
  pkgdeb history s3://acme-releases/hello/production.env
  pkgdeb history --json s3://acme-releases/hello/production.deb | jq '.[0].version'

Flags:
`

// historyEntry is one --json element.
type historyEntry struct {
	VersionID string `json:"version_id"`
	Current   bool   `json:"current"`
	// Kind is the manifest's kind: "deb" or "config".
	Kind         string    `json:"kind,omitempty"`
	DeleteMarker bool      `json:"delete_marker,omitempty"`
	LastModified time.Time `json:"last_modified"`
	Size         int64     `json:"size"`
	Package      string    `json:"package,omitempty"`
	Version      string    `json:"version,omitempty"`
	Architecture string    `json:"architecture,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
	PublishedAt  time.Time `json:"published_at,omitzero"`
	Publisher    string    `json:"publisher,omitempty"`
	GitCommit    string    `json:"git_commit,omitempty"`
	Signed       bool      `json:"signed"`
	KeyID        string    `json:"key_id,omitempty"`
	ManifestErr  string    `json:"manifest_error,omitempty"`
	// FieldsFrom says where Package, Version and Architecture come from:
	// "manifest", or "package" for a version without one, whose .deb
	// control file they were read from (unsigned: whoever wrote the
	// object chose them). PackageErr says why that read failed.
	FieldsFrom string `json:"fields_from,omitempty"`
	PackageErr string `json:"package_error,omitempty"`
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb history", historyHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	limit := fs.Int("limit", 0, "show only the newest `N` versions (0: all)")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	ch, err := oneChannel(pos)
	if err != nil {
		return err
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	hist, err := c.History(ctx, ch, *limit)
	if err != nil {
		return err
	}
	config := configChannel(hist)
	if !config {
		if err := c.ReadPlain(ctx, ch, hist, readDebPrefix); err != nil {
			return err
		}
	}
	if *asJSON {
		out := make([]historyEntry, 0, len(hist))
		for _, v := range hist {
			out = append(out, toEntry(v))
		}
		return writeJSON(stdout, out, true)
	}
	if len(hist) == 0 {
		fmt.Fprintf(stdout, "%s: no versions\n", ch)
		return nil
	}
	return writeHistoryTable(stdout, hist, config)
}

// configChannel reports whether hist is a configuration channel's: a
// version's manifest says so. A plain upload there is not read (it is not
// a .deb, and its bytes may be secrets a .deb reader's errors would
// quote).
func configChannel(hist []release.Version) bool {
	for _, v := range hist {
		if v.Manifest != nil && v.Manifest.Kind == release.KindConfig {
			return true
		}
	}
	return false
}

// writeHistoryTable writes hist as history's table.
func writeHistoryTable(w io.Writer, hist []release.Version, config bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tVERSION ID\tPUBLISHED\tVERSION\tSHA256\tSIZE\tPUBLISHER\tSIGNED\tNOTE")
	for _, v := range hist {
		mark := ""
		if v.Current {
			mark = "*"
		}
		switch {
		case v.DeleteMarker:
			fmt.Fprintf(tw, "%s\t%s\t%s\t(deleted)\t\t\t\t\t\n", mark, v.VersionID, v.LastModified.UTC().Format(time.RFC3339))
		case v.Manifest == nil:
			version, publisher, note := plainCells(v)
			if config && v.Plain == nil && v.PlainErr == nil {
				version, note = "?", note+"not read: a configuration channel's plain upload is not a .deb"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t%s\t%s\tno\t%s\n", mark, v.VersionID, v.LastModified.UTC().Format(time.RFC3339),
				version, mib(v.Size), publisher, note)
		default:
			m := v.Manifest
			signed := "no"
			if m.Signed() {
				signed = m.KeyID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", mark, v.VersionID, m.PublishedAt.Format(time.RFC3339),
				m.Version, m.ShortSHA(), mib(m.Size), m.Publisher, signed)
		}
	}
	return tw.Flush()
}

// plainCells returns the VERSION, PUBLISHER and NOTE cells of a version
// without a manifest. Everything in them that came from the object goes
// through visible: a bucket writer chose it.
func plainCells(v release.Version) (version, publisher, note string) {
	publisher = "plain upload, no manifest"
	if v.ManifestErr != nil && v.ManifestErr != release.ErrNoManifest {
		publisher = "invalid manifest"
		note = "manifest refused (" + visible(v.ManifestErr.Error()) + "); "
	}
	switch p := v.Plain; {
	case p != nil:
		return visible(p.Version), publisher, note + "read from the .deb, unsigned: package " + visible(p.Package) + ", " + visible(p.Architecture)
	case v.PlainErr != nil:
		return "?", publisher, note + "cannot read the .deb: " + visible(v.PlainErr.Error())
	}
	return "(no manifest)", publisher, note
}

// readDebPrefix is history's release.PrefixReader: the control fields of
// a .deb from its first bytes.
func readDebPrefix(prefix []byte) (release.PlainPackage, int64, error) {
	c, err := deb.ReadControl(bytes.NewReader(prefix), int64(len(prefix)))
	if short := (*deb.ShortPrefixError)(nil); errors.As(err, &short) {
		return release.PlainPackage{}, short.Need, nil
	}
	if err != nil {
		return release.PlainPackage{}, 0, err
	}
	if c.Package == "" || c.Version == "" {
		return release.PlainPackage{}, 0, errors.New("its control file has no Package or no Version field")
	}
	return release.PlainPackage{Package: c.Package, Version: c.Version, Architecture: c.Architecture}, 0, nil
}

func toEntry(v release.Version) historyEntry {
	e := historyEntry{
		VersionID:    v.VersionID,
		Current:      v.Current,
		DeleteMarker: v.DeleteMarker,
		LastModified: v.LastModified.UTC(),
		Size:         v.Size,
	}
	if m := v.Manifest; m != nil {
		e.Kind = cmp.Or(m.Kind, release.KindDeb)
		e.Package, e.Version, e.Architecture = m.Package, m.Version, m.Architecture
		e.SHA256, e.PublishedAt, e.Publisher, e.GitCommit = m.SHA256, m.PublishedAt, m.Publisher, m.GitCommit
		e.Signed, e.KeyID = m.Signed(), m.KeyID
		e.FieldsFrom = "manifest"
		return e
	}
	if v.ManifestErr != nil && !v.DeleteMarker {
		e.ManifestErr = v.ManifestErr.Error()
	}
	if p := v.Plain; p != nil {
		e.Package, e.Version, e.Architecture = p.Package, p.Version, p.Architecture
		e.FieldsFrom = "package"
	} else if v.PlainErr != nil {
		e.PackageErr = v.PlainErr.Error()
	}
	return e
}
