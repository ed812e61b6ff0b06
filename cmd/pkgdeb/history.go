package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/release"
)

const historyHelp = `Usage: pkgdeb history [flags] s3://BUCKET/KEY

List every version of a release channel, newest first: VersionId, when it
was published, package version, SHA-256 (short), size, publisher, whether
it is signed (and by which key id), and which version is current (*).
Versions not written by pkgdeb and delete markers are listed too.

Examples:
  pkgdeb history s3://acme-releases/hello/production.deb
  pkgdeb history --json s3://acme-releases/hello/production.deb | jq '.[0].version'

Flags:
`

// historyEntry is one --json element.
type historyEntry struct {
	VersionID    string    `json:"version_id"`
	Current      bool      `json:"current"`
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
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tVERSION ID\tPUBLISHED\tVERSION\tSHA256\tSIZE\tPUBLISHER\tSIGNED")
	for _, v := range hist {
		mark := ""
		if v.Current {
			mark = "*"
		}
		switch {
		case v.DeleteMarker:
			fmt.Fprintf(tw, "%s\t%s\t%s\t(deleted)\t\t\t\t\n", mark, v.VersionID, v.LastModified.UTC().Format(time.RFC3339))
		case v.Manifest == nil:
			fmt.Fprintf(tw, "%s\t%s\t%s\t(no manifest)\t\t%s\t\t\n", mark, v.VersionID, v.LastModified.UTC().Format(time.RFC3339), mib(v.Size))
		default:
			m := v.Manifest
			signed := "no"
			if m.Signed() {
				signed = m.KeyID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, v.VersionID, m.PublishedAt.Format(time.RFC3339),
				m.Version, m.ShortSHA(), mib(m.Size), m.Publisher, signed)
		}
	}
	return tw.Flush()
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
		e.Package, e.Version, e.Architecture = m.Package, m.Version, m.Architecture
		e.SHA256, e.PublishedAt, e.Publisher, e.GitCommit = m.SHA256, m.PublishedAt, m.Publisher, m.GitCommit
		e.Signed, e.KeyID = m.Signed(), m.KeyID
	} else if v.ManifestErr != nil && !v.DeleteMarker {
		e.ManifestErr = v.ManifestErr.Error()
	}
	return e
}
