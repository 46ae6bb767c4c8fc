package npmstandin

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SetTokenLifetime sets how long tokens issued from now on stay valid.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// ExpireTokens makes every token issued so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for tok := range s.tokens {
		s.tokens[tok] = past
	}
}

// Logins is how many tokens were issued from credentials (POST /api/tokens).
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Refreshes is how many tokens were issued from a token (GET /api/tokens).
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// IssuedTokens returns every token handed out, so tests can check that none
// leaks into an error or a log.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// authorize checks the bearer token the way NPM answers: auth failures are
// not 401s. Missing token: GET -> 404, anything else -> 500; unknown token ->
// 500; expired token -> 400 "Token has expired".
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		if r.Method == http.MethodGet {
			notFound(w, r.URL.Path)
		} else {
			writeError(w, http.StatusInternalServerError, "Internal Error")
		}
		return false
	}
	exp, known := s.tokens[tok]
	switch {
	case !known:
		writeError(w, http.StatusInternalServerError, "Internal Error")
		return false
	case time.Now().After(exp):
		writeError(w, http.StatusBadRequest, "Token has expired")
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.schemas.TokenRequest)
	if !ok {
		return
	}
	if body["identity"] != s.email || body["secret"] != s.password {
		writeError(w, http.StatusBadRequest, "Invalid email or password")
		return
	}
	s.logins++
	s.issueToken(w)
}

func (s *Server) refresh(w http.ResponseWriter) {
	s.refreshes++
	s.issueToken(w)
}

func (s *Server) issueToken(w http.ResponseWriter) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	tok := "eyJ" + hex.EncodeToString(b)
	exp := time.Now().Add(s.tokenLifetime)
	s.tokens[tok] = exp
	s.issued = append(s.issued, tok)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires": isoTime(exp)})
}
