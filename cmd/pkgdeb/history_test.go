package main

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

// TestHistoryFieldsArePrintable: history prints manifest fields (version,
// publisher, key id) as they are, without visible. That is safe because
// a version whose metadata holds anything but printable ASCII in any
// manifest field has no manifest (release.ParseManifest, through
// Manifest.Validate) and is listed as "(no manifest)": what a bucket
// writer puts there never reaches the terminal. This pins it.
func TestHistoryFieldsArePrintable(t *testing.T) {
	m := &release.Manifest{Package: "hello", Version: "1.0", Architecture: "all", SHA256: strings.Repeat("ab", 32), Size: 1,
		PublishedAt: time.Unix(1700000000, 0).UTC(), Publisher: "ci@runner", GitCommit: "0123abc", KeyID: "k1", Signature: []byte("sig"),
		Extra: map[string]string{"rollout": "10%,100%"}}
	md := m.Metadata()
	if _, err := release.ParseManifest(md); err != nil {
		t.Fatal(err)
	}
	for name := range md {
		if name == "debfleet-manifest" {
			continue
		}
		for _, v := range []string{setTitle, clearAll, overwrite, bidi, csi8, "1.0\x7f", "1.0\n"} {
			bad := maps.Clone(md)
			bad[name] = v
			if got, err := release.ParseManifest(bad); !errors.Is(err, release.ErrNoManifest) {
				t.Errorf("%s %q: manifest %+v, error %v; want release.ErrNoManifest", name, v, got, err)
			}
		}
	}
}
