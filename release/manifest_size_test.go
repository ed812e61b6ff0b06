package release

import (
	"strings"
	"testing"
	"time"
)

// A manifest that would not fit in S3's 2 KiB of user metadata is refused
// before anything is uploaded, naming its longest field.
func TestManifestMetadataSize(t *testing.T) {
	m := &Manifest{Package: "hello", Version: "1.0", Architecture: "amd64", SHA256: strings.Repeat("a", 64), Size: 1,
		PublishedAt: time.Unix(0, 0).UTC(), Publisher: "ci@test", Extra: map[string]string{"window": strings.Repeat("x", 1500)}}
	if err := m.Validate(); err != nil {
		t.Fatalf("a manifest of %d bytes: %v", m.metadataSize(), err)
	}
	m.Extra["window"] = strings.Repeat("x", 2000)
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), "at most 2048") || !strings.Contains(err.Error(), "window: 2015 bytes") {
		t.Fatalf("a manifest of %d bytes: %v", m.metadataSize(), err)
	}
}
