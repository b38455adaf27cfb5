package registry

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func newPair(t *testing.T, cfg Config) (*Simulator, *HTTPClient) {
	t.Helper()
	sim := NewSimulator("examflow", "secret")
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.TokenURL = srv.URL, srv.URL+"/oauth/token"
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = "examflow", "secret"
	}
	c, err := NewHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

var pub = Publication{Key: "reg-1/v1", NationalID: "12048510092",
	Results: []Result{{TestType: "citizenship", Part: "test", Result: "passed", DecidedAt: time.Date(2027, 3, 15, 10, 0, 0, 0, time.UTC)}}}

func TestPublishAndWithdraw(t *testing.T) {
	ctx := context.Background()
	sim, c := newPair(t, Config{})
	r1, err := c.Publish(ctx, pub)
	if err != nil || r1.Key != pub.Key {
		t.Fatalf("publish: %+v %v", r1, err)
	}
	// The same key again replaces, never duplicates.
	r2, err := c.Publish(ctx, pub)
	if err != nil || !r2.ReceivedAt.Equal(r1.ReceivedAt) || len(sim.Publications()) != 1 {
		t.Fatalf("republish: %+v %v, %d stored", r2, err, len(sim.Publications()))
	}
	if err := c.Withdraw(ctx, pub.Key); err != nil || len(sim.Publications()) != 0 {
		t.Fatalf("withdraw: %v", err)
	}
	if err := c.Withdraw(ctx, pub.Key); err != nil {
		t.Fatalf("withdrawing twice: %v", err)
	}
}

func TestFailuresAndRetries(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		cfg       Config
		setup     func(*Simulator)
		wantErr   bool
		permanent bool
		wantStore int
	}{
		{"two 503s then success", Config{Attempts: 3}, func(s *Simulator) { s.FailNext(2, 503) }, false, false, 1},
		{"429 then success", Config{Attempts: 2}, func(s *Simulator) { s.FailNext(1, 429) }, false, false, 1},
		{"down for longer than the attempts", Config{Attempts: 2}, func(s *Simulator) { s.FailNext(5, 502) }, true, false, 0},
		{"a 400 is not retried", Config{Attempts: 3}, func(s *Simulator) { s.FailNext(1, 400) }, true, true, 0},
		{"slower than the timeout", Config{Attempts: 1, Timeout: 100 * time.Millisecond}, func(s *Simulator) { s.Slow(time.Second) }, true, false, 0},
		{"wrong credentials", Config{Attempts: 3, ClientID: "examflow", ClientSecret: "wrong"}, func(*Simulator) {}, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, c := newPair(t, tt.cfg)
			tt.setup(sim)
			_, err := c.Publish(ctx, pub)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && IsPermanent(err) != tt.permanent {
				t.Fatalf("permanent = %v, want %v (%v)", IsPermanent(err), tt.permanent, err)
			}
			if n := len(sim.Publications()); n != tt.wantStore {
				t.Fatalf("%d publications stored, want %d", n, tt.wantStore)
			}
		})
	}
}

func TestSimulatorRefusesAPublicationWithoutNationalID(t *testing.T) {
	_, c := newPair(t, Config{})
	_, err := c.Publish(context.Background(), Publication{Key: "k"})
	var perm *PermanentError
	if !errors.As(err, &perm) || perm.Status != 400 {
		t.Fatalf("err = %v, want a 400 refusal", err)
	}
}
