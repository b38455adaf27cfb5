package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
)

// Every request the tests send to examflow's API and every answer they get
// is checked against api/openapi.yaml (send, below), so the document cannot
// drift from the code. A violation fails the test that made the call.
//
// Calls that are not to examflow's API are not checked, and go out with
// plain net/http on purpose:
//   - the Temporal UI server (cluster_test.go) and the dev stack's banner
//     URLs and UI settings (dev_test.go: Temporal UI, the worker's
//     /metrics, the Diploma Registry simulator);
//   - Prometheus scrapes (scrapeMetrics: the worker's operations listener
//     and the API's /metrics, whose text the document describes only as
//     text/plain; auth_test.go checks the API's through do);
//   - the readiness polls of API processes while they start
//     (replicas_test.go), which are not the API under test yet.

// contract is api/openapi.yaml, loaded and validated once.
var contract struct {
	once   sync.Once
	router routers.Router
	err    error
}

func contractRouter() (routers.Router, error) {
	contract.once.Do(func() {
		// Bodies the document describes as binary or text: the validator
		// decodes only the media types it has decoders for.
		for _, ct := range []string{"audio/ogg", "audio/mpeg", "audio/wav", "audio/webm", "audio/mp4", "audio/flac"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
		for _, ct := range []string{"text/html", "text/markdown"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile("../api/openapi.yaml")
		if err != nil {
			contract.err = fmt.Errorf("load api/openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			contract.err = fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		// The tests' servers listen on ports of their own, not on the
		// document's example server: match paths on any host.
		doc.Servers = nil
		contract.router, contract.err = gorillamux.NewRouter(doc)
	})
	return contract.router, contract.err
}

// contractOptions reads and validates bodies both ways; authentication is
// tested on its own (auth_test.go), so any credentials pass here, and a
// status the document does not list for the operation is a violation.
var contractOptions = func() *openapi3filter.Options {
	o := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	// Name the field and the rule it breaks, without the schema and the
	// value in full.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("/%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	return o
}()

// checkContract says how one exchange breaks api/openapi.yaml ("" when it
// keeps to it). A request the document refuses is a violation only where
// the server accepted it: the tests send invalid requests on purpose to see
// them refused (4xx). A path or method the document does not describe is
// a violation unless the server does not serve it either (404, 405).
func checkContract(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) string {
	router, err := contractRouter()
	if err != nil {
		return err.Error()
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if (errors.Is(err, routers.ErrPathNotFound) && status == http.StatusNotFound) ||
			(errors.Is(err, routers.ErrMethodNotAllowed) && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed)) {
			return ""
		}
		return fmt.Sprintf("not in the document: %v", err)
	}
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: contractOptions}
	var violations []string
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && (status < 400 || status >= 500) {
		violations = append(violations, fmt.Sprintf("request: %v", err))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: contractOptions,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		violations = append(violations, fmt.Sprintf("response: %v", err))
	}
	if len(violations) == 0 {
		return ""
	}
	return fmt.Sprint(violations)
}

// recorder keeps what a request body sent, for checking it afterwards
// (bodies may be streams the test made on purpose slow).
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// send makes req with client (http.DefaultClient when nil), reads the whole
// answer and checks the exchange against api/openapi.yaml: the one place
// the tests call examflow's API. A contract violation is in the answer's
// Violation; callers with a *testing.T report it with checkAnswer (doAt
// does). An error is a request that could not be made or an answer that
// could not be read.
func send(client *http.Client, req *http.Request) (answer, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var rec *recorder
	if req.Body != nil && req.Body != http.NoBody {
		rec = &recorder{r: req.Body}
		req.Body = io.NopCloser(rec)
		if again := req.GetBody; again != nil {
			// A retry on a fresh connection sends the body anew.
			req.GetBody = func() (io.ReadCloser, error) {
				b, err := again()
				if err != nil {
					return nil, err
				}
				rec.r = b
				rec.buf.Reset()
				return io.NopCloser(rec), nil
			}
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	var sent []byte
	if rec != nil {
		sent = rec.buf.Bytes()
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: raw,
		Violation: checkContract(req, sent, resp.StatusCode, resp.Header, raw)}
	if a.Violation != "" {
		a.Violation = fmt.Sprintf("%s %s answered %d: breaks api/openapi.yaml: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, a.Violation)
	}
	return a, nil
}

// checkAnswer fails the test whose call broke the document.
func checkAnswer(t *testing.T, a answer) {
	t.Helper()
	if a.Violation != "" {
		t.Error(a.Violation)
	}
}

// TestContractCheckFindsDrift: the check itself tells drift from keeping to
// the document (no server needed).
func TestContractCheckFindsDrift(t *testing.T) {
	get := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/registrations/"+uuid.NewString(), nil)
	post := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1/registrations", nil)
	post.Header.Set("Content-Type", "application/json")
	undocumented := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/v2/x", nil)
	jsonCT := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	problemCT := http.Header{"Content-Type": {"application/problem+json"}}
	problem := `{"type":"/problems/malformed-request","title":"Malformed","status":400}`
	for name, tc := range map[string]struct {
		req    *http.Request
		sent   string
		status int
		header http.Header
		body   string
		want   string // in the violation; "" for none
	}{
		"an array as an array":                     {get, "", 200, jsonCT, `{"parts": []}`, ""},
		"an array as null":                         {get, "", 200, jsonCT, `{"parts": null}`, "/parts: Value is not nullable"},
		"a status the operation does not list":     {get, "", 418, jsonCT, `{}`, "status is not supported"},
		"a media type the operation does not list": {get, "", 200, http.Header{"Content-Type": {"text/plain"}}, `x`, "Content-Type"},
		"an invalid request refused":               {post, `{"person": 1}`, 400, problemCT, problem, ""},
		"an invalid request accepted":              {post, `{"person": 1}`, 201, jsonCT, `{}`, "request: request body has an error"},
		"a path the document lacks, not served":    {undocumented, "", 404, problemCT, problem, ""},
		"a path the document lacks, served":        {undocumented, "", 200, jsonCT, `{}`, "not in the document"},
	} {
		got := checkContract(tc.req, []byte(tc.sent), tc.status, tc.header, []byte(tc.body))
		if (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: violation %q, want %q", name, got, tc.want)
		}
	}
}
