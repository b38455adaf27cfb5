package process

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
	// metadataWorkflowID names the workflow a payload is sealed for; the ID
	// is bound to the ciphertext too.
	metadataWorkflowID = "encryption-workflow-id"
)

// Codec encrypts every Temporal payload (workflow and activity inputs and
// results, Update and Signal arguments, Query results, and failure messages)
// with AES-256-GCM, so Temporal's persistence holds no personal data in
// plaintext. Each payload names the key it was sealed with, so keys can be
// rotated: new payloads use the current key, old ones stay readable while
// their key is configured.
//
// A payload sealed where the SDK names the workflow (its input, Update and
// Query arguments and results, its activities' inputs and results) is
// bound to that workflow's ID, and a decoder that knows its workflow refuses
// a payload bound to another: a payload copied from one history cannot be
// sent to another workflow.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
	// unbound are workflow IDs whose payloads are not bound: Schedule
	// actions, whose runs get the action's ID with the time appended.
	unbound map[string]bool
	// noBinding seals every payload unbound (EXAMFLOW_PAYLOAD_BIND_WORKFLOW
	// false), for processes of an earlier version that cannot read bound
	// ones. Bound payloads are still checked.
	noBinding bool
}

// NewCodec returns a codec with the keys (ID to 32-byte key) that encrypts
// with the key current.
func NewCodec(keys map[string][]byte, current string) (*Codec, error) {
	c := &Codec{current: current, aeads: map[string]cipher.AEAD{}, unbound: map[string]bool{}}
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

// LeaveUnbound makes payloads sealed for the workflow IDs unbound: the IDs
// of Schedule actions, whose runs have IDs of their own. Call it before use.
func (c *Codec) LeaveUnbound(workflowIDs ...string) {
	for _, id := range workflowIDs {
		c.unbound[id] = true
	}
}

// BindToWorkflows turns the binding of payloads to their workflow on (the
// default) or off. Call it before use.
func (c *Codec) BindToWorkflows(on bool) { c.noBinding = !on }

// Encode seals each payload with the current key, bound to no workflow. The
// key ID is bound to the ciphertext as additional data.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return c.seal(payloads, "")
}

// seal seals payloads for the workflow workflowID, or for none.
func (c *Codec) seal(payloads []*commonpb.Payload, workflowID string) ([]*commonpb.Payload, error) {
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
		md := map[string][]byte{metadataEncoding: []byte(encodingEncrypted), metadataKeyID: []byte(c.current)}
		if workflowID != "" {
			md[metadataWorkflowID] = []byte(workflowID)
		}
		out[i] = &commonpb.Payload{Metadata: md, Data: aead.Seal(nonce, nonce, plain, additionalData(c.current, workflowID))}
	}
	return out, nil
}

// additionalData is what GCM authenticates besides the ciphertext: the key
// ID, and the workflow ID of a bound payload. Payloads sealed before the
// binding have the key ID only.
func additionalData(keyID, workflowID string) []byte {
	if workflowID == "" {
		return []byte(keyID)
	}
	return []byte(keyID + "\x00workflow\x00" + workflowID)
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

// WithSerializationContext returns the codec for payloads of one workflow
// (the SDK names it for workflow and activity payloads): it binds what it
// seals to the workflow's ID and refuses a payload bound to another.
func (c *Codec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	var id string
	switch sc := sc.(type) {
	case converter.WorkflowSerializationContext:
		id = sc.WorkflowID
	case converter.ActivitySerializationContext:
		id = sc.WorkflowID
	}
	if id == "" {
		return c
	}
	return workflowCodec{c: c, workflowID: id}
}

// workflowCodec is the codec of one workflow's payloads.
type workflowCodec struct {
	c          *Codec
	workflowID string
}

// Encode seals the payloads bound to the workflow (unless its payloads are
// left unbound).
func (w workflowCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if w.c.noBinding || w.c.unbound[w.workflowID] {
		return w.c.seal(payloads, "")
	}
	return w.c.seal(payloads, w.workflowID)
}

// Decode opens payloads examflow sealed, refusing one bound to another
// workflow. Payloads sealed before the binding (bound to none) still open.
func (w workflowCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	for i, p := range payloads {
		if bound := string(p.GetMetadata()[metadataWorkflowID]); bound != "" && bound != w.workflowID {
			return nil, fmt.Errorf("payload %d is sealed for another workflow: refused", i)
		}
	}
	return w.c.Decode(payloads)
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
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], additionalData(id, string(p.GetMetadata()[metadataWorkflowID])))
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

// ReplayDataConverter is DataConverter for replaying a recorded history: it
// opens payloads bound to any workflow, since a replayer runs a history
// under a workflow ID of its own. Never give it to a worker.
func (c *Codec) ReplayDataConverter() converter.DataConverter {
	return sealedConverter{converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), replayCodec{c})}
}

// replayCodec is the codec without workflow binding.
type replayCodec struct{ c *Codec }

func (r replayCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return r.c.Encode(p) }
func (r replayCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return r.c.Decode(p) }

// sealedConverter refuses to decode values that have no payload.
type sealedConverter struct{ converter.DataConverter }

// WithSerializationContext passes the SDK's serialization context (which
// workflow a payload belongs to) on to the codec.
func (s sealedConverter) WithSerializationContext(sc converter.SerializationContext) converter.DataConverter {
	return sealedConverter{converter.WithDataConverterSerializationContext(s.DataConverter, sc)}
}

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
