package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Where keys come from. Keys never live in the repository: an operator
// keeps them in a secret store and hands them to every process that talks
// to Temporal (worker, CLI, API), the same keys to all of them.
const (
	// EnvKeys holds keys inline: id:base64,id:base64 (current key first).
	EnvKeys = "MUSTER_CODEC_KEYS"
	// EnvKeyFile names a file of keys, one id:base64 per line (current
	// key first; blank lines and lines starting with # are skipped).
	EnvKeyFile = "MUSTER_CODEC_KEY_FILE"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// maxKeyFileBytes bounds what ReadKeyFile reads: a key file is a few lines.
const maxKeyFileBytes = 64 << 10

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte
}

// String renders the key as a key file line: id:base64.
func (k Key) String() string { return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret) }

// Keys are a codec's keys, the current one first.
type Keys []Key

// IDs lists the keys' IDs, current first.
func (ks Keys) IDs() []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

// NewKey returns a fresh random key named id.
func NewKey(id string) (Key, error) {
	if err := validID(id); err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		return Key{}, fmt.Errorf("generate codec key: %w", err)
	}
	return k, nil
}

// validID accepts IDs of 1 to 64 letters, digits, '.', '_' and '-': they
// are written in clear into every payload's metadata.
func validID(id string) error {
	if id == "" {
		return errors.New("key ID is empty")
	}
	if len(id) > 64 {
		return fmt.Errorf("key ID %.16q… is %d characters, at most 64", id, len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("key ID %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// ParseKeys reads keys written as id:base64, separated by commas or new
// lines. Errors name the entry but never show key material.
func ParseKeys(s string) (Keys, error) {
	var keys Keys
	seen := map[string]bool{}
	n := 0
	var entries []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		entries = append(entries, strings.Split(line, ",")...)
	}
	for _, line := range entries {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n++
		id, secret, ok := strings.Cut(line, ":")
		id = strings.TrimSpace(id)
		if !ok {
			return nil, fmt.Errorf("key %d: want id:base64 (e.g. k2026:%s)", n, strings.Repeat("A", 43)+"=")
		}
		if err := validID(id); err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("key %d (%s): the secret is not standard base64", n, id)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("key %d (%s): the secret is %d bytes, want %d (generate one with: openssl rand -base64 32)", n, id, len(raw), KeySize)
		}
		if seen[id] {
			return nil, fmt.Errorf("key %d: ID %q is listed twice", n, id)
		}
		seen[id] = true
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	return keys, nil
}

// ReadKeyFile reads a key file (see EnvKeyFile).
func ReadKeyFile(path string) (Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("codec key file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxKeyFileBytes+1)); err != nil {
		return nil, fmt.Errorf("codec key file %s: %w", path, err)
	}
	if buf.Len() > maxKeyFileBytes {
		return nil, fmt.Errorf("codec key file %s: larger than %d bytes, not a key file", path, maxKeyFileBytes)
	}
	keys, err := ParseKeys(buf.String())
	if err != nil {
		return nil, fmt.Errorf("codec key file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("codec key file %s: no keys in it (want lines of id:base64)", path)
	}
	return keys, nil
}

// KeysFromEnv reads the keys named by EnvKeys or EnvKeyFile (not both).
// No keys at all is not an error: the caller decides whether a process may
// run without encryption.
func KeysFromEnv(lookup func(string) (string, bool)) (Keys, error) {
	inline, _ := lookup(EnvKeys)
	file, _ := lookup(EnvKeyFile)
	inline, file = strings.TrimSpace(inline), strings.TrimSpace(file)
	switch {
	case inline != "" && file != "":
		return nil, fmt.Errorf("both %s and %s are set: set one", EnvKeys, EnvKeyFile)
	case inline != "":
		keys, err := ParseKeys(inline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeys, err)
		}
		return keys, nil
	case file != "":
		keys, err := ReadKeyFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeyFile, err)
		}
		return keys, nil
	}
	return nil, nil
}

// EnsureKeyFile reads the key file at path, or creates it with one new key
// when there is none (for the demo, which keeps its state in a folder of
// its own). The file is readable by its owner only.
func EnsureKeyFile(path string) (keys Keys, created bool, err error) {
	keys, err = ReadKeyFile(path)
	if err == nil {
		return keys, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err := NewKey("k" + time.Now().UTC().Format("20060102-150405"))
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("codec key file: %w", err)
	}
	body := "# Muster payload codec keys: id:base64, the current key first.\n" + k.String() + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("codec key file: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, fmt.Errorf("codec key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("codec key file %s: %w", path, err)
	}
	return Keys{k}, true, nil
}
