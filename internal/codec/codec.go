// Package codec encrypts the payloads Muster hands to Temporal. Operators'
// free text (lift and skip reasons, decisions, finding descriptions, notice
// bodies) travels in workflow inputs, results, update arguments and
// failures; with the codec every one of them is stored in Temporal's
// histories as AES-256-GCM ciphertext. Search attributes are not payloads
// that pass through a codec, so supervisors still filter on them.
//
// Each encrypted payload names the key that sealed it in its metadata, so
// keys can be rotated: a process encrypts with its current key and decrypts
// with any key it knows. Payloads written before the codec was turned on
// carry no such encoding and are passed through unchanged.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata written on every encrypted payload.
const (
	// Encoding marks a payload this codec encrypted; the SDK's default
	// converters refuse it, so a process without the codec fails loudly
	// instead of reading ciphertext as data.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher, so another one can be added later.
	MetadataCipher = "encryption-cipher"
	// Cipher is the only cipher this codec writes.
	Cipher = "AES256GCM"
)

// Codec is a converter.PayloadCodec that encrypts with the first of its
// keys and decrypts with any of them. A Codec without keys encrypts nothing
// and refuses, with an error saying how to configure keys, any payload that
// is encrypted.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
	ids     []string
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec for keys; the first key is the current one.
func New(keys Keys) (*Codec, error) {
	c := &Codec{aeads: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, fmt.Errorf("codec key %d: %w", i+1, err)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec key %q: %d bytes, want %d (AES-256)", k.ID, len(k.Secret), KeySize)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("codec key %q is listed twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
		c.ids = append(c.ids, k.ID)
		if i == 0 {
			c.current = k.ID
		}
	}
	return c, nil
}

// Encrypting reports whether the codec has a key to encrypt with.
func (c *Codec) Encrypting() bool { return c.current != "" }

// CurrentKeyID is the ID of the key new payloads are encrypted with, or ""
// when the codec has none.
func (c *Codec) CurrentKeyID() string { return c.current }

// Encode encrypts each payload whole (metadata and data) with the current
// key. The key ID is also the additional authenticated data, so a payload
// relabelled with another key's ID does not decrypt.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.current == "" {
		return payloads, nil
	}
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(fmt.Errorf("encrypt payload: %w", err))
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(fmt.Errorf("encrypt payload: %w", err))
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.current),
				MetadataCipher:             []byte(Cipher),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec (or one with a shared key)
// encrypted and passes every other payload through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		d, err := c.decodeOne(p)
		if err != nil {
			// A key missing from this process is a configuration error,
			// not the workflow's: failing the workflow task (retried until
			// the key is back) keeps the workflow running, where failing
			// the workflow would end a seal for a missing file.
			return payloads, converter.NewWorkflowTaskFailureError(err)
		}
		out[i] = d
	}
	return out, nil
}

func (c *Codec) decodeOne(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	if cph := string(p.GetMetadata()[MetadataCipher]); cph != "" && cph != Cipher {
		return nil, fmt.Errorf("decrypt payload: cipher %q is not supported (want %s)", cph, Cipher)
	}
	if id == "" {
		return nil, fmt.Errorf("decrypt payload: it is marked %s but names no key (metadata %s is missing)", Encoding, MetadataKeyID)
	}
	aead, ok := c.aeads[id]
	if !ok {
		if len(c.ids) == 0 {
			return nil, &UnknownKeyError{ID: id}
		}
		return nil, &UnknownKeyError{ID: id, Known: c.knownIDs()}
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("decrypt payload with key %q: %d bytes is too short to be ciphertext", id, len(data))
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: authentication failed (the key's secret differs from the one that encrypted it, or the payload was altered)", id)
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: decrypted bytes are not a payload: %w", id, err)
	}
	return &out, nil
}

func (c *Codec) knownIDs() []string {
	ids := append([]string(nil), c.ids...)
	sort.Strings(ids)
	return ids
}

// UnknownKeyError is a payload encrypted with a key this process does not
// have.
type UnknownKeyError struct {
	ID    string
	Known []string
}

func (e *UnknownKeyError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("payload is encrypted with codec key %q but no codec keys are configured: set %s or %s", e.ID, EnvKeys, EnvKeyFile)
	}
	return fmt.Sprintf("payload is encrypted with codec key %q, which is not among the configured keys (%s): keep retired keys after the current one in %s or %s",
		e.ID, strings.Join(e.Known, ", "), EnvKeys, EnvKeyFile)
}

// ErrUnknownKey matches every *UnknownKeyError with errors.Is.
var ErrUnknownKey = errors.New("unknown codec key")

// Is makes errors.Is(err, ErrUnknownKey) hold.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// DataConverter returns the SDK's default data converter with c applied to
// every payload.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter returns a failure converter that moves failure messages
// and stack traces into an encoded payload, so that free text in an error
// (a refusal quoting a reason, say) is encrypted too.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}

// Apply makes the client options encrypt with c: its data converter for
// payloads and, when c has a key, a failure converter for failure
// messages. Workers made from a client with these options use them too.
func Apply(opts *client.Options, c *Codec) {
	opts.DataConverter = DataConverter(c)
	if c.Encrypting() {
		// Without a key the messages would only be hidden from the Web UI,
		// not protected.
		opts.FailureConverter = FailureConverter(opts.DataConverter)
	}
}
