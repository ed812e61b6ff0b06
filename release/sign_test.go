package release

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyPairRoundTrip(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath, err := WriteKeyPair(filepath.Join(dir, "release"), k)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(keyPath)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v", keyPath, fi.Mode())
	}
	if _, _, err := WriteKeyPair(filepath.Join(dir, "release"), k); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second WriteKeyPair: %v", err)
	}
	loaded, err := LoadSigningKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID() != k.ID() || pub.ID != k.ID() || len(k.ID()) != 16 {
		t.Errorf("ids %s %s %s", loaded.ID(), pub.ID, k.ID())
	}
	m := testManifest([]byte("x"), "1.0")
	loaded.Sign(m)
	if err := m.Verify(pub); err != nil {
		t.Error(err)
	}
}

func TestLoadSigningKeyRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKey()
	keyPath, pubPath, err := WriteKeyPair(filepath.Join(dir, "k"), k)
	if err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose.key")
	data, _ := os.ReadFile(keyPath)
	os.WriteFile(loose, data, 0o644)
	os.Chmod(loose, 0o644)
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	pubAsKey := filepath.Join(dir, "pub.key")
	pub, _ := os.ReadFile(pubPath)
	os.WriteFile(pubAsKey, pub, 0o600)
	tests := []struct {
		path, want string
		is         error
	}{
		{loose, "chmod 600", ErrLoosePermissions},
		{garbage, "not a PEM", ErrNotPrivateKey},
		{pubAsKey, "not a PEM", ErrNotPrivateKey},
		{filepath.Join(dir, "missing.key"), "no such file", nil},
	}
	for _, tt := range tests {
		_, err := LoadSigningKey(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to mention %q", filepath.Base(tt.path), err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v is not %v", filepath.Base(tt.path), err, tt.is)
		}
	}
}

func TestManifestSignatureCoversEveryField(t *testing.T) {
	k, _ := GenerateKey()
	base := testManifest([]byte("x"), "1.0")
	base.GitCommit = "0123abc"
	base.Extra = map[string]string{"rollout": "canary=10%"}
	k.SignFor(base, Address{Bucket: "acme", Key: "hello/production.deb"})
	md := base.Metadata()
	// Round trip through metadata, as S3 returns it.
	parsed, err := ParseManifest(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(k.Public()); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	for name := range md {
		if name == metaSignature || name == metaFormat {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tampered := map[string]string{}
			for k, v := range md {
				tampered[k] = v
			}
			switch name {
			case metaSize:
				tampered[name] = "2"
			case metaPublishedAt:
				tampered[name] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			case metaSHA256:
				tampered[name] = strings.Repeat("0", 64)
			default:
				tampered[name] += "x"
			}
			m, err := ParseManifest(tampered)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Verify(k.Public()); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnknownKey) {
				t.Errorf("tampered %s: %v", name, err)
			}
		})
	}
	// An added field is covered too.
	md["debfleet-rollout2"] = "all"
	m, _ := ParseManifest(md)
	if err := m.Verify(k.Public()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("added field: %v", err)
	}
}

// TestVerifyFor: a signature holds only on the channel it names, and a
// signature from before channels were bound holds on none.
func TestVerifyFor(t *testing.T) {
	k, _ := GenerateKey()
	prod := Address{Bucket: "acme", Key: "hello/production.deb"}
	staging := Address{Bucket: "acme", Key: "hello/staging.deb"}
	signed := func(sign func(*Manifest)) *Manifest {
		m := testManifest([]byte("x"), "1.0")
		sign(m)
		return m
	}
	tests := []struct {
		name string
		m    *Manifest
		want error
	}{
		{"signed for this channel", signed(func(m *Manifest) { k.SignFor(m, prod) }), nil},
		{"signed for another channel", signed(func(m *Manifest) { k.SignFor(m, staging) }), ErrWrongChannel},
		{"signed for no channel", signed(k.Sign), ErrWrongChannel},
		{"channel changed after signing", signed(func(m *Manifest) { k.SignFor(m, staging); m.Channel = prod.String() }), ErrBadSignature},
		{"same key, another bucket", signed(func(m *Manifest) { k.SignFor(m, Address{Bucket: "acme-staging", Key: prod.Key}) }), ErrWrongChannel},
		{"unsigned", testManifest([]byte("x"), "1.0"), ErrUnsigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.m.VerifyFor(prod, k.Public()); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseManifestRejects(t *testing.T) {
	good := testManifest([]byte("x"), "1.0").Metadata()
	tests := []struct {
		name string
		edit func(map[string]string)
	}{
		{"no manifest", func(m map[string]string) { delete(m, metaFormat) }},
		{"future format", func(m map[string]string) { m[metaFormat] = "2" }},
		{"bad size", func(m map[string]string) { m[metaSize] = "big" }},
		{"bad sha", func(m map[string]string) { m[metaSHA256] = "abc" }},
		{"bad time", func(m map[string]string) { m[metaPublishedAt] = "yesterday" }},
		{"no package", func(m map[string]string) { delete(m, metaPackage) }},
		{"key id without signature", func(m map[string]string) { m[metaKeyID] = "0011223344556677" }},
		{"size not canonical", func(m map[string]string) { m[metaSize] = "0" + m[metaSize] }},
		{"size with a sign", func(m map[string]string) { m[metaSize] = "+" + m[metaSize] }},
		{"published-at with fractions", func(m map[string]string) {
			m[metaPublishedAt] = strings.Replace(m[metaPublishedAt], "Z", ".000Z", 1)
		}},
		{"published-at in another zone", func(m map[string]string) {
			t, _ := time.Parse(time.RFC3339, m[metaPublishedAt])
			m[metaPublishedAt] = t.In(time.FixedZone("", 3600)).Format(time.RFC3339)
		}},
	}
	for _, tt := range tests {
		md := map[string]string{}
		for k, v := range good {
			md[k] = v
		}
		tt.edit(md)
		if _, err := ParseManifest(md); !errors.Is(err, ErrNoManifest) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if _, err := ParseManifest(good); err != nil {
		t.Errorf("good: %v", err)
	}
}

// TestManifestKinds: a manifest describes bytes of any kind; "deb", the
// default, is written as no field, so manifests from before kinds keep
// their canonical form and signatures, and only a Debian package must
// name an architecture.
func TestManifestKinds(t *testing.T) {
	k, _ := GenerateKey()
	old := testManifest([]byte("x"), "1.0")
	k.Sign(old)
	deb := *old
	deb.Kind = KindDeb
	if !bytes.Equal(deb.Canonical(), old.Canonical()) || deb.Verify(k.Public()) != nil {
		t.Error(`Kind "deb" changes the canonical form of a manifest without a kind`)
	}
	if _, ok := old.Metadata()[metaKind]; ok {
		t.Error("a Debian package's manifest carries a kind field")
	}
	cfg := testManifest([]byte("KEY=value\n"), "7")
	cfg.Kind, cfg.Package, cfg.Architecture = "config", "hello.env", ""
	k.Sign(cfg)
	md := cfg.Metadata()
	if md[metaKind] != "config" {
		t.Fatalf("metadata %v: no kind", md)
	}
	parsed, err := ParseManifest(md)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Kind != "config" || parsed.IsDeb() || parsed.Verify(k.Public()) != nil || parsed.Extra != nil {
		t.Errorf("round trip: %+v", parsed)
	}
	md[metaKind] = "script"
	if m, err := ParseManifest(md); err != nil || m.Verify(k.Public()) == nil {
		t.Errorf("a changed kind still verifies: %v", err)
	}
	noArch := testManifest([]byte("x"), "1.0")
	noArch.Architecture = ""
	if err := noArch.Validate(); err == nil {
		t.Error("a Debian package's manifest without an architecture is valid")
	}
}
