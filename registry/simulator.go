package registry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Simulator is a stand-in for the Diploma Registry for the local stack and
// the tests: it issues client-credentials tokens, stores what it receives
// by publication key, and can be told to fail or to slow down.
//
//	POST   /oauth/token                     client_credentials grant
//	PUT    /v1/publications/{key}           publish (replaces the same key)
//	DELETE /v1/publications/{key}           withdraw
//	GET    /v1/publications                 everything stored (open, for inspection)
//	POST   /control/fail?count=N&status=503 fail the next N API calls
//	POST   /control/slow?ms=N               delay every API call
type Simulator struct {
	ClientID, ClientSecret string

	mu       sync.Mutex
	tokens   map[string]bool
	pubs     map[string]Publication
	received map[string]time.Time
	calls    int
	fail     int
	status   int
	slow     time.Duration

	// publishes counts the publish requests (PUT) received, by key.
	publishes map[string]int
}

// NewSimulator returns a simulator that accepts the given credentials.
func NewSimulator(clientID, clientSecret string) *Simulator {
	return &Simulator{ClientID: clientID, ClientSecret: clientSecret, tokens: map[string]bool{},
		pubs: map[string]Publication{}, received: map[string]time.Time{}}
}

// Publications returns what is published now, by key order.
func (s *Simulator) Publications() []Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Publication, 0, len(s.pubs))
	for _, p := range s.pubs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// PublishRequests returns how many publish requests (PUT) for key have
// reached the simulator. A request counts on arrival, before any delay set
// by Slow: one still in flight, failed, or abandoned by its client counts
// too. Tests use it to act while a publication is in flight.
func (s *Simulator) PublishRequests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishes[key]
}

// FailNext makes the next n API calls answer status.
func (s *Simulator) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.status = n, status
}

// Slow delays every API call by d.
func (s *Simulator) Slow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth/token" && r.Method == http.MethodPost:
		s.token(w, r)
	case strings.HasPrefix(r.URL.Path, "/control/") && r.Method == http.MethodPost:
		s.control(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1/publications"):
		s.api(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Simulator) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		_ = r.ParseForm()
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret || r.PostFormValue("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (s *Simulator) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/control/fail":
		n, _ := strconv.Atoi(r.URL.Query().Get("count"))
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		s.FailNext(n, status)
	case "/control/slow":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		s.Slow(time.Duration(ms) * time.Millisecond)
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) api(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/v1/publications" {
		// Inspection, for people and tests: open.
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Publications())
		return
	}
	s.mu.Lock()
	authorized := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	s.calls++
	if r.Method == http.MethodPut {
		if s.publishes == nil {
			s.publishes = map[string]int{}
		}
		s.publishes[strings.TrimPrefix(r.URL.Path, "/v1/publications/")]++
	}
	slow := s.slow
	failing := s.fail > 0
	status := s.status
	if failing {
		s.fail--
	}
	s.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	if !authorized {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if failing {
		w.WriteHeader(status)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/v1/publications/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPut && key != "":
		var p Publication
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Key != key || p.NationalID == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"a publication needs its key and a national identity number"}`))
			return
		}
		s.mu.Lock()
		s.pubs[key] = p
		at, seen := s.received[key]
		if !seen {
			at = time.Now().UTC()
			s.received[key] = at
		}
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(Receipt{Key: key, ReceivedAt: at})
	case r.Method == http.MethodDelete && key != "":
		s.mu.Lock()
		_, ok := s.pubs[key]
		delete(s.pubs, key)
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
