package release

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Manifest metadata names. Every manifest field is stored as S3 user
// metadata (x-amz-meta-<name>) under the "debfleet-" prefix.
const (
	metaPrefix      = "debfleet-"
	metaFormat      = metaPrefix + "manifest"
	metaKind        = metaPrefix + "kind"
	metaPackage     = metaPrefix + "package"
	metaVersion     = metaPrefix + "version"
	metaArch        = metaPrefix + "architecture"
	metaSHA256      = metaPrefix + "sha256"
	metaSize        = metaPrefix + "size"
	metaPublishedAt = metaPrefix + "published-at"
	metaPublisher   = metaPrefix + "publisher"
	metaGitCommit   = metaPrefix + "git-commit"
	metaChannel     = metaPrefix + "channel"
	metaKeyID       = metaPrefix + "key-id"
	metaSignature   = metaPrefix + "signature"
	// manifestFormat is the value of debfleet-manifest: bump it when the
	// meaning of an existing field changes, not when a field is added.
	manifestFormat = "1"
	// signContext starts the signed message so a signature over a manifest
	// cannot be taken for one over anything else.
	signContext = "debfleet release manifest v1\n"
)

// Kinds of payload a manifest describes (Manifest.Kind).
const (
	// KindDeb is a Debian binary package, the kind of a manifest that
	// names none (every manifest written before kinds existed).
	KindDeb = "deb"
	// KindConfig is a configuration file for a service (Package names
	// the service), such as an environment file: published, staged and
	// rolled back like a package, written to a path instead of installed.
	KindConfig = "config"
)

// Manifest describes one release: what its bytes are (kind, name,
// version), the exact bytes (SHA-256 and size), and who published it when.
// It travels as the object's user metadata, atomic with the bytes. The
// channel treats every kind alike; the kind tells a consumer whether it
// can use the bytes at all.
type Manifest struct {
	// Kind is what the bytes are; "" means KindDeb and is stored as no
	// field at all, so manifests written before kinds existed keep their
	// canonical form and their signatures.
	Kind string
	// Package names the payload (for KindDeb, the package's name).
	Package string
	Version string
	// Architecture is the Debian architecture a KindDeb payload is built
	// for; other kinds may leave it empty.
	Architecture string
	SHA256       string // lowercase hex
	Size         int64
	PublishedAt  time.Time // UTC, second precision
	Publisher    string    // user@host
	GitCommit    string    // optional
	// Channel is the channel (s3://bucket/key) a signature is for: set
	// when the manifest is signed, so a signed release copied to another
	// channel (staging into production) is refused there. "" on unsigned
	// manifests and on signatures made before channels were bound.
	Channel string
	// KeyID and Signature are set by Sign; empty when unsigned.
	KeyID     string
	Signature []byte
	// Extra holds manifest fields this version does not know (names
	// without the "debfleet-" prefix, e.g. a later "rollout" policy). They
	// are kept on copy and covered by the signature.
	Extra map[string]string
}

// fields returns every manifest field except the signature, by metadata
// name.
func (m *Manifest) fields() map[string]string {
	f := map[string]string{
		metaFormat:      manifestFormat,
		metaPackage:     m.Package,
		metaVersion:     m.Version,
		metaSHA256:      m.SHA256,
		metaSize:        strconv.FormatInt(m.Size, 10),
		metaPublishedAt: m.PublishedAt.UTC().Format(time.RFC3339),
		metaPublisher:   m.Publisher,
	}
	if m.Kind != "" && m.Kind != KindDeb {
		f[metaKind] = m.Kind
	}
	if m.Architecture != "" {
		f[metaArch] = m.Architecture
	}
	if m.GitCommit != "" {
		f[metaGitCommit] = m.GitCommit
	}
	if m.Channel != "" {
		f[metaChannel] = m.Channel
	}
	if m.KeyID != "" {
		f[metaKeyID] = m.KeyID
	}
	for k, v := range m.Extra {
		f[metaPrefix+k] = v
	}
	return f
}

// Canonical returns the bytes a signature covers: a fixed first line, then
// one "name=value" line per manifest field (signature excluded, key id
// included), sorted by name, each ending in "\n". Names are the metadata
// names, so any field added later, known or not, is signed the same way;
// values never contain a newline (Validate).
func (m *Manifest) Canonical() []byte {
	f := m.fields()
	var b strings.Builder
	b.WriteString(signContext)
	for _, k := range slices.Sorted(maps.Keys(f)) {
		b.WriteString(k + "=" + f[k] + "\n")
	}
	return []byte(b.String())
}

// Validate checks that every field is present and well formed, and that
// each value survives an HTTP header unchanged (printable ASCII, no
// surrounding spaces).
func (m *Manifest) Validate() error {
	required := map[string]string{"package": m.Package, "version": m.Version, "publisher": m.Publisher}
	if m.IsDeb() {
		required["architecture"] = m.Architecture
	}
	for name, v := range required {
		if v == "" {
			return fmt.Errorf("manifest: %s is empty", name)
		}
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 || strings.ToLower(m.SHA256) != m.SHA256 {
		return fmt.Errorf("manifest: sha256 %q is not 64 lowercase hex digits", m.SHA256)
	}
	if m.Size < 0 {
		return fmt.Errorf("manifest: negative size %d", m.Size)
	}
	if m.PublishedAt.IsZero() {
		return errors.New("manifest: published-at is not set")
	}
	if (m.KeyID == "") != (len(m.Signature) == 0) {
		return errors.New("manifest: key id and signature must come together")
	}
	if n := m.metadataSize(); n > MaxMetadataSize {
		return fmt.Errorf("manifest: %d bytes of S3 user metadata, S3 keeps at most %d (names and values): shorten its longest fields (%s)", n, MaxMetadataSize, m.longestField())
	}
	for k, v := range m.fields() {
		if !strings.HasPrefix(k, metaPrefix) || !headerSafe(strings.TrimPrefix(k, metaPrefix)) || strings.ContainsAny(k, "= ") {
			return fmt.Errorf("manifest: bad field name %q", k)
		}
		if !headerSafe(v) {
			return fmt.Errorf("manifest: %s value %q: only printable ASCII without surrounding spaces survives S3 metadata", strings.TrimPrefix(k, metaPrefix), v)
		}
	}
	return nil
}

// MaxMetadataSize is what S3 keeps of an object's user metadata: the
// names and values of every x-amz-meta-* field, in bytes. A manifest
// (with its signature) must fit, or S3 refuses the upload.
const MaxMetadataSize = 2048

// metadataSize is the size S3 counts of m.Metadata(). Publish validates
// the manifest again once it is signed, signature and channel included.
func (m *Manifest) metadataSize() int {
	n := 0
	for k, v := range m.Metadata() {
		n += len(k) + len(v)
	}
	return n
}

// longestField names m's longest field and its size, for the error.
func (m *Manifest) longestField() string {
	name, size := "", 0
	for k, v := range m.fields() {
		if len(k)+len(v) > size {
			name, size = k, len(k)+len(v)
		}
	}
	return fmt.Sprintf("%s: %d bytes", strings.TrimPrefix(name, metaPrefix), size)
}

func headerSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Metadata returns the manifest as S3 user metadata.
func (m *Manifest) Metadata() map[string]string {
	f := m.fields()
	if len(m.Signature) > 0 {
		f[metaSignature] = base64.StdEncoding.EncodeToString(m.Signature)
	}
	return f
}

// IsDeb reports whether the manifest describes a Debian package.
func (m *Manifest) IsDeb() bool { return m.Kind == "" || m.Kind == KindDeb }

// Signed reports whether the manifest carries a signature.
func (m *Manifest) Signed() bool { return len(m.Signature) > 0 }

// ParseManifest reads a manifest from S3 user metadata (names are
// case-insensitive). Metadata without the debfleet-manifest field gives
// ErrNoManifest. Unknown debfleet-* fields go to Extra.
func ParseManifest(md map[string]string) (*Manifest, error) {
	f := make(map[string]string, len(md))
	for k, v := range md {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, metaPrefix) {
			f[k] = v
		}
	}
	format, ok := f[metaFormat]
	if !ok {
		return nil, ErrNoManifest
	}
	if format != manifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q, this program reads %q", ErrNoManifest, format, manifestFormat)
	}
	m := &Manifest{
		Kind:         f[metaKind],
		Package:      f[metaPackage],
		Version:      f[metaVersion],
		Architecture: f[metaArch],
		SHA256:       f[metaSHA256],
		Publisher:    f[metaPublisher],
		GitCommit:    f[metaGitCommit],
		Channel:      f[metaChannel],
		KeyID:        f[metaKeyID],
	}
	var err error
	if m.Size, err = strconv.ParseInt(f[metaSize], 10, 64); err != nil {
		return nil, fmt.Errorf("%w: size %q", ErrNoManifest, f[metaSize])
	}
	if m.PublishedAt, err = time.Parse(time.RFC3339, f[metaPublishedAt]); err != nil {
		return nil, fmt.Errorf("%w: published-at %q", ErrNoManifest, f[metaPublishedAt])
	}
	m.PublishedAt = m.PublishedAt.UTC()
	// The signature covers the fields as Canonical writes them, so a
	// value written another way ("0001000", fractional seconds) would
	// verify while meaning what its writer chose: refuse it.
	if s := strconv.FormatInt(m.Size, 10); s != f[metaSize] {
		return nil, fmt.Errorf("%w: size %q is not in canonical form (%s)", ErrNoManifest, f[metaSize], s)
	}
	if s := m.PublishedAt.Format(time.RFC3339); s != f[metaPublishedAt] {
		return nil, fmt.Errorf("%w: published-at %q is not in canonical form (%s)", ErrNoManifest, f[metaPublishedAt], s)
	}
	if s, ok := f[metaSignature]; ok {
		if m.Signature, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: signature is not base64", ErrNoManifest)
		}
	}
	known := []string{metaFormat, metaKind, metaPackage, metaVersion, metaArch, metaSHA256, metaSize,
		metaPublishedAt, metaPublisher, metaGitCommit, metaChannel, metaKeyID, metaSignature}
	for k, v := range f {
		if !slices.Contains(known, k) {
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[strings.TrimPrefix(k, metaPrefix)] = v
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoManifest, err)
	}
	return m, nil
}

// ShortSHA returns the first 12 hex digits of the SHA-256, for display.
func (m *Manifest) ShortSHA() string {
	if len(m.SHA256) < 12 {
		return m.SHA256
	}
	return m.SHA256[:12]
}
