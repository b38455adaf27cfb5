package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/worker"
)

// TestSignedInStaffAreNamedAsTheActor: an examiner signed in through the
// identity provider (an OIDC token) who leaves `assessor` out is recorded
// as the assessor, by their subject; a system calling with an API key must
// name the person it acts for, and is refused (422 naming the field)
// without changing anything when it does not.
func TestSignedInStaffAreNamedAsTheActor(t *testing.T) {
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	const issuer = "https://login.example.no"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tokenFor := func(subject, role string) string {
		payload, _ := json.Marshal(map[string]any{"iss": issuer, "aud": "examflow", "sub": subject, "roles": []string{role},
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue,
		Logger: quiet, Registry: worker.NewRegistry(), Catalogue: env.catalogue,
		OIDC: api.NewOIDC(ctx, issuer, jwks.URL, "examflow", "roles", "sub", nil)}))
	t.Cleanup(srv.Close)

	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "norwegian_a1_b2", uniqueCentre(), session), "")
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	url := registrationURL(reg)
	regID := uuid.MustParse(reg.Body["registration_id"].(string))
	assess := func(token, role string) answer {
		return doAt(t, srv.URL, http.MethodPost, url+"/assessments", "application/json",
			[]byte(mustJSON(map[string]any{"part": "writing", "role": role, "level": "B1"})),
			map[string]string{"Authorization": "Bearer " + token})
	}
	// A system (the all-roles API key) leaves the assessor out: refused.
	if a := assess(env.token, "external_examiner"); a.Status != http.StatusUnprocessableEntity || !slices.Contains(fieldNames(a), "assessor") {
		t.Fatalf("API key without assessor: %d %s, want 422 naming assessor", a.Status, a.Raw)
	}
	if got, err := env.store.Assessors(ctx, regID, "writing"); err != nil || len(got) != 0 {
		t.Fatalf("assessors after the refusal: %v %v, want none", got, err)
	}
	// A signed-in examiner leaves it out: they are the assessor.
	if a := assess(tokenFor("examiner-ola", api.RoleExaminer), "examiner"); a.Status != http.StatusAccepted {
		t.Fatalf("signed-in examiner: %d %s", a.Status, a.Raw)
	}
	eventually(t, 15*time.Second, func() error {
		got, err := env.store.Assessors(ctx, regID, "writing")
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{"examiner-ola"}) {
			return fmt.Errorf("assessors %v, want [examiner-ola]", got)
		}
		return nil
	})
}
