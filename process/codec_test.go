package process

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/cases"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestCodec(t *testing.T) {
	secret := `{"given_name":"Kari","national_id":"12048510092"}`
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(secret)}
	c1, err := NewCodec(map[string][]byte{"k1": key(1)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c1.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].GetData(), []byte("Kari")) || string(enc[0].GetMetadata()["encoding"]) != "binary/encrypted" {
		t.Fatalf("encoded payload not encrypted: %q", enc[0])
	}
	// After a rotation the old key still opens old payloads.
	c2, err := NewCodec(map[string][]byte{"k1": key(1), "k2": key(2)}, "k2")
	if err != nil {
		t.Fatal(err)
	}
	tampered := &commonpb.Payload{Metadata: enc[0].GetMetadata(), Data: append(bytes.Clone(enc[0].GetData()[:len(enc[0].GetData())-1]), enc[0].GetData()[len(enc[0].GetData())-1]^1)}
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("k2")}, Data: enc[0].GetData()}
	tests := []struct {
		name    string
		codec   *Codec
		in      *commonpb.Payload
		want    string
		wantErr string
	}{
		{"round trip", c1, enc[0], secret, ""},
		{"old key after rotation", c2, enc[0], secret, ""},
		{"plain payload refused", c1, plain, "", "not sealed"},
		{"payload without metadata refused", c1, &commonpb.Payload{Data: []byte(secret)}, "", "not sealed"},
		{"encrypted label without a key id", c1, &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted")}, Data: enc[0].GetData()}, "", "unknown key"},
		{"too short", c1, &commonpb.Payload{Metadata: enc[0].GetMetadata(), Data: []byte("short")}, "", "too short"},
		{"tampered ciphertext", c1, tampered, "", "open payload"},
		{"key id swapped", c2, relabelled, "", "open payload"},
		{"key removed", mustCodec(t, map[string][]byte{"k2": key(2)}, "k2"), enc[0], "", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.codec.Decode([]*commonpb.Payload{tt.in})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out[0].GetData()) != tt.want {
				t.Fatalf("decoded %q", out[0].GetData())
			}
		})
	}
}

func mustCodec(t *testing.T, keys map[string][]byte, current string) *Codec {
	t.Helper()
	c, err := NewCodec(keys, current)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewCodecRefusesBadKeys(t *testing.T) {
	if _, err := NewCodec(map[string][]byte{"k": []byte("short")}, "k"); err == nil {
		t.Fatal("accepted a short key")
	}
	if _, err := NewCodec(map[string][]byte{"k": key(1)}, "other"); err == nil {
		t.Fatal("accepted a current id without a key")
	}
}

// The data converter with the codec turns values into encrypted payloads
// and back.
func TestCodecDataConverter(t *testing.T) {
	dc := mustCodec(t, map[string][]byte{"k": key(3)}, "k").DataConverter()
	p, err := dc.ToPayload(map[string]string{"email": "kari@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("kari@")) {
		t.Fatal("plaintext in payload")
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["email"] != "kari@example.org" {
		t.Fatalf("round trip: %v %v", back, err)
	}
	var _ converter.DataConverter = dc
}

// TestDataConverterRefusesUnsealedArguments: what the worker decodes
// (workflow inputs, Update arguments, activity results) must be sealed by
// examflow. A plaintext payload, as the Temporal CLI or UI sends, or an
// argument left out, is an error, so the SDK rejects such an Update
// before its validator runs.
func TestDataConverterRefusesUnsealedArguments(t *testing.T) {
	c := mustCodec(t, map[string][]byte{"k1": key(1)}, "k1")
	dc := c.DataConverter()
	sealed, err := dc.ToPayloads(cases.Withdrawal{Via: "participant_link"})
	if err != nil {
		t.Fatal(err)
	}
	plainJSON, err := converter.GetDefaultDataConverter().ToPayloads(cases.Withdrawal{Via: "participant_link"})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := mustCodec(t, map[string][]byte{"k9": key(9)}, "k9").DataConverter().ToPayloads(cases.Withdrawal{Via: "participant_link"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      *commonpb.Payloads
		wantErr string
	}{
		{"sealed by examflow", sealed, ""},
		{"plaintext JSON", plainJSON, "not sealed"},
		{"no payload at all", nil, "no payload"},
		{"empty payload list", &commonpb.Payloads{}, "no payload"},
		{"sealed with a key examflow does not have", otherKey, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w cases.Withdrawal
			err := dc.FromPayloads(tt.in, &w)
			if tt.wantErr == "" {
				if err != nil || w.Via != "participant_link" {
					t.Fatalf("decoded %+v, %v", w, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q (decoded %+v)", err, tt.wantErr, w)
			}
		})
	}
	// A nil value pointer asks for nothing: the SDK passes one when the
	// caller does not want a result.
	if err := dc.FromPayloads(nil, nil); err != nil {
		t.Fatalf("nil pointer: %v", err)
	}
}

// TestDisplayCodec: the codec server shows payloads as they are stored,
// sealed ones opened and unsealed ones unchanged, and never seals one.
func TestDisplayCodec(t *testing.T) {
	c := mustCodec(t, map[string][]byte{"k1": key(1)}, "k1")
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"stage":"Result"}`)}
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	d := c.DisplayCodec()
	out, err := d.Decode([]*commonpb.Payload{enc[0], plain})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range out {
		if string(p.GetData()) != `{"stage":"Result"}` {
			t.Fatalf("payload %d shown as %q", i, p.GetData())
		}
	}
	if _, err := d.Encode([]*commonpb.Payload{plain}); err == nil {
		t.Fatal("the display codec sealed a payload")
	}
}

// BenchmarkDataConverter measures one Update payload (a 36-answer sheet)
// encoded and decoded by examflow's data converter against the SDK's
// default one; `make bench` reports the same as its figure 5, as a ratio.
func BenchmarkDataConverter(b *testing.B) {
	c, err := NewCodec(map[string][]byte{"k1": key(1)}, "k1")
	if err != nil {
		b.Fatal(err)
	}
	sheet := cases.AnswerSheet{Part: "test", FormID: "citizenship-test-bench", KeyVersion: 1}
	for i := range 36 {
		sheet.Answers = append(sheet.Answers, cases.AnswerItem{Item: fmt.Sprintf("q%02d", i+1), Choice: "a"})
	}
	for _, bc := range []struct {
		name string
		dc   converter.DataConverter
	}{{"baseline-json", converter.GetDefaultDataConverter()}, {"examflow-sealed", c.DataConverter()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := bc.dc.ToPayloads(sheet)
				if err != nil {
					b.Fatal(err)
				}
				var back cases.AnswerSheet
				if err := bc.dc.FromPayloads(p, &back); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCodecBindsPayloadsToTheirWorkflow: a payload sealed for one workflow
// (its ID is bound to the ciphertext) is refused by another, so a payload
// copied from one history cannot be re-sent to another workflow. Payloads
// sealed before the binding still open, the codec server shows bound ones,
// schedules' inputs stay unbound (their runs get the action ID plus a
// time), and a replay of a history opens them whatever its workflow ID.
func TestCodecBindsPayloadsToTheirWorkflow(t *testing.T) {
	c := mustCodec(t, map[string][]byte{"k1": key(1)}, "k1")
	c.LeaveUnbound("monthly-statistics")
	dc := c.DataConverter()
	in := func(id string) converter.DataConverter {
		return converter.WithDataConverterSerializationContext(dc, converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: id})
	}
	activityIn := func(id string) converter.DataConverter {
		return converter.WithDataConverterSerializationContext(dc, converter.ActivitySerializationContext{Namespace: "default", WorkflowID: id, ActivityType: "DeleteParticipant"})
	}
	withdrawal := cases.Withdrawal{Via: "participant_link"}
	forA, err := in("course-registration-A").ToPayloads(withdrawal)
	if err != nil {
		t.Fatal(err)
	}
	if string(forA.GetPayloads()[0].GetMetadata()["encryption-workflow-id"]) != "course-registration-A" {
		t.Fatalf("metadata %v", forA.GetPayloads()[0].GetMetadata())
	}
	legacy, err := dc.ToPayloads(withdrawal) // sealed without a workflow, as before the binding
	if err != nil {
		t.Fatal(err)
	}
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{}, Data: forA.GetPayloads()[0].GetData()}
	for k, v := range forA.GetPayloads()[0].GetMetadata() {
		relabelled.Metadata[k] = v
	}
	relabelled.Metadata["encryption-workflow-id"] = []byte("course-registration-B")
	scheduled, err := in("monthly-statistics").ToPayloads(cases.StatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dc      converter.DataConverter
		in      *commonpb.Payloads
		wantErr string
	}{
		{"its own workflow", in("course-registration-A"), forA, ""},
		{"an activity of its workflow", activityIn("course-registration-A"), forA, ""},
		{"another workflow", in("course-registration-B"), forA, "sealed for another workflow"},
		{"an activity of another workflow", activityIn("course-registration-B"), forA, "sealed for another workflow"},
		{"relabelled for another workflow", in("course-registration-B"), &commonpb.Payloads{Payloads: []*commonpb.Payload{relabelled}}, "open payload"},
		{"no workflow context", dc, forA, ""},
		{"sealed before the binding", in("course-registration-B"), legacy, ""},
		{"a replay, whose workflow ID is the replayer's", converter.WithDataConverterSerializationContext(c.ReplayDataConverter(),
			converter.WorkflowSerializationContext{WorkflowID: "ReplayId"}), forA, ""},
		{"a scheduled run", in("monthly-statistics-2027-01-01T00:00:00Z"), scheduled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w cases.Withdrawal
			var s cases.StatisticsRequest
			var ptr any = &w
			if tt.in == scheduled {
				ptr = &s
			}
			err := tt.dc.FromPayloads(tt.in, ptr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	shown, err := c.DisplayCodec().Decode(forA.GetPayloads())
	if err != nil || !strings.Contains(string(shown[0].GetData()), "participant_link") {
		t.Fatalf("display: %v %v", shown, err)
	}
}

// TestCodecWithoutBinding: with binding off (while processes of an earlier
// version still run) the codec seals unbound payloads, which any version
// reads, and still refuses a payload bound to another workflow.
func TestCodecWithoutBinding(t *testing.T) {
	bound := mustCodec(t, map[string][]byte{"k1": key(1)}, "k1")
	off := mustCodec(t, map[string][]byte{"k1": key(1)}, "k1")
	off.BindToWorkflows(false)
	ctx := func(id string) converter.SerializationContext {
		return converter.WorkflowSerializationContext{WorkflowID: id}
	}
	p, err := converter.WithDataConverterSerializationContext(off.DataConverter(), ctx("A")).ToPayloads(cases.Withdrawal{Via: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.GetPayloads()[0].GetMetadata()["encryption-workflow-id"]; ok {
		t.Fatal("bound with binding off")
	}
	forA, err := converter.WithDataConverterSerializationContext(bound.DataConverter(), ctx("A")).ToPayloads(cases.Withdrawal{Via: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var w cases.Withdrawal
	if err := converter.WithDataConverterSerializationContext(off.DataConverter(), ctx("B")).FromPayloads(forA, &w); err == nil {
		t.Fatal("a payload bound to another workflow was accepted with binding off")
	}
	if err := converter.WithDataConverterSerializationContext(off.DataConverter(), ctx("A")).FromPayloads(forA, &w); err != nil || w.Via != "x" {
		t.Fatalf("its own workflow: %v %v", w, err)
	}
}
