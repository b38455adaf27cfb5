package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// payloadsIn collects every Payload anywhere in a protobuf message.
func payloadsIn(m protoreflect.Message, out *[]*commonpb.Payload) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		*out = append(*out, p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				payloadsIn(v.List().Get(i).Message(), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				payloadsIn(mv.Message(), out)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			payloadsIn(v.Message(), out)
		}
		return true
	})
}

// TestTemporalHistoryHoldsNoPlaintextPayloads: every payload in a lifecycle's
// history (inputs, activity results, Update arguments with test answers,
// failures) is encrypted; the codec server opens them for the Temporal UI.
func TestTemporalHistoryHoldsNoPlaintextPayloads(t *testing.T) {
	ctx := context.Background()
	centre := uniqueCentre()
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", centre, session), "")
	url := registrationURL(reg)
	if a := submitSheet(t, url, fmt.Sprintf("citizenship-test-%s-%s", centre, session), answersFor(36, 30)); a.Status != 202 {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Result")
	wfID := reg.Body["workflow_id"].(string)

	var payloads []*commonpb.Payload
	iter := env.temporal.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var sawUpdate bool
	var inputPayload *commonpb.Payload
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED {
			sawUpdate = true
		}
		if in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(); len(in) > 0 && inputPayload == nil {
			inputPayload = in[0] // opened by the codec server below
		}
		payloadsIn(ev.ProtoReflect(), &payloads)
	}
	if !sawUpdate || len(payloads) < 5 {
		t.Fatalf("history has %d payloads, update accepted: %v; the check would prove nothing", len(payloads), sawUpdate)
	}
	// The user metadata (summaries of the start, activities and timers,
	// current details, descriptions) is encrypted too, and holds none of
	// the candidate's data.
	assertNoPersonalDataInUserMetadata(t, wfID, []string{p.Given, p.Family, p.NationalID, p.Email, p.Born, "Eksempelveien"})
	for _, pl := range payloads {
		if _, searchAttr := pl.GetMetadata()["type"]; searchAttr {
			continue // search attribute values: statuses and codes, no personal data
		}
		if enc := string(pl.GetMetadata()["encoding"]); enc != "binary/encrypted" {
			t.Fatalf("a payload in the history is %q, not encrypted: %s", enc, pl.GetData())
		}
	}

	// The codec server decodes for the Temporal UI, with CORS for its origin.
	pre := do(t, http.MethodOptions, "/codec/decode", "", nil, map[string]string{"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST"})
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
	other := do(t, http.MethodOptions, "/codec/decode", "", nil, map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
	if other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unknown origin")
	}
	req, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{inputPayload}})
	a := do(t, http.MethodPost, "/codec/decode", "application/json", req, map[string]string{"X-Namespace": "default"})
	if a.Status != 200 {
		t.Fatalf("decode: %d %s", a.Status, a.Raw)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(a.Raw, &decoded); err != nil {
		t.Fatal(err)
	}
	if enc := string(decoded.GetPayloads()[0].GetMetadata()["encoding"]); enc != "json/plain" {
		t.Fatalf("decoded encoding %q", enc)
	}
	var v any
	if err := json.Unmarshal(decoded.GetPayloads()[0].GetData(), &v); err != nil {
		t.Fatalf("decoded payload is not JSON: %v", err)
	}
	if !strings.Contains(string(decoded.GetPayloads()[0].GetData()), "registration_id") {
		t.Fatalf("decoded %s", decoded.GetPayloads()[0].GetData())
	}
}
