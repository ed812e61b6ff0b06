package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Signing errors, for errors.Is.
var (
	// ErrUnsigned: a signature was required but the manifest has none.
	ErrUnsigned = errors.New("release is not signed")
	// ErrUnknownKey: the manifest is signed by a key not among those given.
	ErrUnknownKey = errors.New("signed by an unknown key")
	// ErrBadSignature: the signature does not match the manifest.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongChannel: a signature is valid but made for another channel
	// (or, from before channels were bound, for none).
	ErrWrongChannel = errors.New("signed for another channel")
	// ErrLoosePermissions: a private key file is readable or writable by
	// group or others.
	ErrLoosePermissions = errors.New("key file permissions too open")
	// ErrNotPrivateKey: a file given as a signing key holds no PEM
	// "PRIVATE KEY" block (it is a public key, or not a key at all).
	// GenerateKey and WriteKeyPair make one.
	ErrNotPrivateKey = errors.New(`not a PEM "PRIVATE KEY" file`)
)

// SigningKey is an ed25519 private key that signs manifests.
type SigningKey struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// PublicKey verifies manifests signed by the matching SigningKey.
type PublicKey struct {
	Key ed25519.PublicKey
	// ID is KeyID(Key): what a manifest names as its signer.
	ID string
}

// KeyID returns the first 16 hex digits of the SHA-256 of the raw public
// key: short enough to read, derived so it cannot be mislabelled.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func newPublicKey(pub ed25519.PublicKey) PublicKey { return PublicKey{Key: pub, ID: KeyID(pub)} }

// GenerateKey returns a new random signing key.
func GenerateKey() (*SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return &SigningKey{priv: priv, pub: newPublicKey(pub)}, nil
}

// ID returns the key's id.
func (k *SigningKey) ID() string { return k.pub.ID }

// Public returns the key's public half.
func (k *SigningKey) Public() PublicKey { return k.pub }

// Sign sets m's key id and signature. Call it after every other field is
// final: any change afterwards invalidates the signature.
func (k *SigningKey) Sign(m *Manifest) {
	m.KeyID = k.pub.ID
	m.Signature = nil
	m.Signature = ed25519.Sign(k.priv, m.Canonical())
}

// SignFor binds m to channel ch (Manifest.Channel) and signs it.
func (k *SigningKey) SignFor(m *Manifest, ch Address) {
	m.Channel = ch.String()
	k.Sign(m)
}

// Resign signs m for channel ch as a new publication: a fresh
// PublishedAt from now (time.Now when nil), publisher when not "", then
// SignFor. Promote and a re-signing rollback write a release again this
// way, so agents take it as new (see the agent's replay rules).
func (k *SigningKey) Resign(m *Manifest, ch Address, publisher string, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	m.PublishedAt = now().UTC().Truncate(time.Second)
	if publisher != "" {
		m.Publisher = publisher
	}
	k.SignFor(m, ch)
}

// VerifyFor is Verify, and then checks that the signature was made for
// channel ch: a release signed for staging does not verify in
// production.
func (m *Manifest) VerifyFor(ch Address, keys ...PublicKey) error {
	if err := m.Verify(keys...); err != nil {
		return err
	}
	switch m.Channel {
	case ch.String():
		return nil
	case "":
		return fmt.Errorf("%w: the signature names no channel (made before releases were bound to one); re-sign it for %s", ErrWrongChannel, ch)
	}
	return fmt.Errorf("%w: signed for %s, not %s", ErrWrongChannel, m.Channel, ch)
}

// VerifyInHistory is the check for a version of ch's history about to be
// re-signed for ch: Verify, and a signature that names a channel must
// name ch. One made before channels were bound names none and passes, so
// that releases signed then can still be rolled back to.
func (m *Manifest) VerifyInHistory(ch Address, keys ...PublicKey) error {
	if err := m.Verify(keys...); err != nil {
		return err
	}
	if m.Channel != "" && m.Channel != ch.String() {
		return fmt.Errorf("%w: signed for %s, not %s", ErrWrongChannel, m.Channel, ch)
	}
	return nil
}

// Verify checks that m is signed by one of keys. With no keys it only
// reports ErrUnsigned for an unsigned manifest, since nothing can be
// checked.
func (m *Manifest) Verify(keys ...PublicKey) error {
	if !m.Signed() {
		return ErrUnsigned
	}
	for _, k := range keys {
		if k.ID != m.KeyID {
			continue
		}
		if !ed25519.Verify(k.Key, m.Canonical(), m.Signature) {
			return fmt.Errorf("%w from key %s", ErrBadSignature, m.KeyID)
		}
		return nil
	}
	return fmt.Errorf("%w %s", ErrUnknownKey, m.KeyID)
}

// WriteKeyPair writes k to base+".key" (PKCS #8 PEM, mode 0600) and its
// public key to base+".pub" (PKIX PEM, mode 0644). It refuses to
// overwrite either file.
func WriteKeyPair(base string, k *SigningKey) (keyPath, pubPath string, err error) {
	keyPath, pubPath = base+".key", base+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("write key pair: %s already exists; refusing to overwrite it", p)
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return "", "", fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(k.pub.Key)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	if err := writeExclusive(keyPath, 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return "", "", err
	}
	if err := writeExclusive(pubPath, 0o644, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return keyPath, pubPath, nil
}

func writeExclusive(path string, mode os.FileMode, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The umask may have removed bits; it cannot have added any, but be
	// exact about what we promise.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadSigningKey reads a private key written by WriteKeyPair (or any PKCS
// #8 PEM ed25519 key). It refuses a file that group or others may read or
// write, as ssh does.
func LoadSigningKey(path string) (*SigningKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load signing key %s: %w: mode %04o lets group or others read it; run: chmod 600 %s", path, ErrLoosePermissions, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load signing key %s: %w", path, ErrNotPrivateKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load signing key %s: a %T, want ed25519", path, key)
	}
	return &SigningKey{priv: priv, pub: newPublicKey(priv.Public().(ed25519.PublicKey))}, nil
}

// LoadPublicKey reads a public key written by WriteKeyPair.
func LoadPublicKey(path string) (PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("load public key: %w", err)
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("load public key %s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKey parses a PKIX PEM ed25519 public key.
func ParsePublicKey(data []byte) (PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return PublicKey{}, errors.New("not a PEM \"PUBLIC KEY\"")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return PublicKey{}, err
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("a %T, want ed25519", key)
	}
	return newPublicKey(pub), nil
}
