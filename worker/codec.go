package worker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata of an encrypted payload.
const (
	encodingEncrypted = "binary/encrypted"
	metadataEncoding  = "encoding"
	metadataKeyID     = "encryption-key-id"
)

// Codec encrypts every Temporal payload (workflow and activity inputs and
// results, Update and Signal arguments, Query results, and failure messages)
// with AES-256-GCM, so Temporal's persistence holds no personal data in
// plaintext. Each payload names the key it was sealed with, so keys can be
// rotated: new payloads use the current key, old ones stay readable while
// their key is configured.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewCodec returns a codec with the keys (ID to 32-byte key) that encrypts
// with the key current.
func NewCodec(keys map[string][]byte, current string) (*Codec, error) {
	c := &Codec{current: current, aeads: map[string]cipher.AEAD{}}
	for id, key := range keys {
		if len(key) != 32 {
			return nil, fmt.Errorf("payload key %q must be 32 bytes, got %d", id, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("payload key %q: %w", id, err)
		}
		if c.aeads[id], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("payload key %q: %w", id, err)
		}
	}
	if _, ok := c.aeads[current]; !ok {
		return nil, fmt.Errorf("no payload key with the current id %q", current)
	}
	return c, nil
}

// Encode seals each payload with the current key. The key ID is bound to the
// ciphertext as additional data.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metadataEncoding: []byte(encodingEncrypted), metadataKeyID: []byte(c.current)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode opens payloads examflow sealed and refuses every other one: a
// payload that is not encrypted (as the Temporal CLI or UI would send),
// names a key that is not configured, or fails authentication is an error.
// Temporal is a trust boundary: whoever can reach its frontend must not be
// able to hand the worker a value examflow's API did not seal.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metadataEncoding]) != encodingEncrypted {
			return nil, fmt.Errorf("payload %d is not sealed by examflow (encoding %q): refused", i, p.GetMetadata()[metadataEncoding])
		}
		dec, err := c.open(p)
		if err != nil {
			return nil, err
		}
		out[i] = dec
	}
	return out, nil
}

// open decrypts one sealed payload.
func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[metadataKeyID])
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("payload sealed with unknown key %q", id)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize() {
		return nil, fmt.Errorf("encrypted payload too short")
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open payload: %w", err)
	}
	var dec commonpb.Payload
	if err := proto.Unmarshal(plain, &dec); err != nil {
		return nil, fmt.Errorf("unmarshal payload: %w", err)
	}
	return &dec, nil
}

// DisplayCodec is the codec the codec server serves to the Temporal UI: it
// opens sealed payloads and shows any other payload as it is stored (a
// search attribute, or a plaintext payload someone sent past the API), and
// it never seals one, so nobody can make a payload the worker accepts
// through it.
func (c *Codec) DisplayCodec() converter.PayloadCodec { return displayCodec{c} }

type displayCodec struct{ c *Codec }

// Encode refuses: sealing is for examflow's own processes only.
func (displayCodec) Encode([]*commonpb.Payload) ([]*commonpb.Payload, error) {
	return nil, errors.New("the codec server does not encode payloads")
}

// Decode opens sealed payloads and leaves the others unchanged.
func (d displayCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metadataEncoding]) != encodingEncrypted {
			out[i] = p
			continue
		}
		dec, err := d.c.open(p)
		if err != nil {
			return nil, err
		}
		out[i] = dec
	}
	return out, nil
}

// DataConverter is the default JSON converter with every payload encrypted.
// Decoding is strict: every payload must be sealed by examflow, and a value
// asked for must have a payload (an Update sent without its argument would
// otherwise reach its validator as a zero value).
func (c *Codec) DataConverter() converter.DataConverter {
	return sealedConverter{converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)}
}

// sealedConverter refuses to decode values that have no payload.
type sealedConverter struct{ converter.DataConverter }

// FromPayloads decodes payloads into valuePtrs; a non-nil pointer without
// a payload is an error.
func (s sealedConverter) FromPayloads(payloads *commonpb.Payloads, valuePtrs ...any) error {
	for i, ptr := range valuePtrs {
		if ptr != nil && i >= len(payloads.GetPayloads()) {
			return fmt.Errorf("value %d: no payload; examflow seals every argument it sends", i)
		}
	}
	return s.DataConverter.FromPayloads(payloads, valuePtrs...)
}

// FailureConverter encrypts failure messages and stack traces too, which
// the default converter leaves in plaintext.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter: c.DataConverter(), EncodeCommonAttributes: true,
	})
}
