// Package npmstandin stands in for Nginx Proxy Manager (NPM) in tests. NPM is
// a hosted service that cannot run here, so this httptest server answers the
// part of its REST API the provider uses (tokens, proxy hosts, certificates)
// the way a real NPM answered (see npm-behaviour.md in the shared reference;
// for certificates, NPM 2.15.1's code at the schema's commit), and it
// enforces the documented request shape: every request body is validated
// against NPM's own schema files, copied unchanged from
// NginxProxyManager/nginx-proxy-manager backend/schema at commit
// a62c2a6dc3ab51e6fedc34d3ea3506bc9373953f into testdata/npm-api-schema, and a
// body NPM would refuse is refused with NPM's status, error shape and message.
//
// It reproduces the traps the client must survive: tokens that expire with a
// 400 (not a 401), 201 creates whose answer lacks meta.nginx_online, writes
// that answer 500 after storing the change, nginx refusing a generated config
// (meta.nginx_online false with nginx_err), soft deletes with ids counting up.
//
// On HTTPURL it also plays NPM's nginx: a request is proxied by its Host header
// to the forward target of the proxy host carrying that domain, a change goes
// live a reload delay after the API answered, and an unknown host gets NPM's
// default page with HTTP 200. On HTTPSURL nginx serves each host with the
// certificate attached to it (certificates.go), and a host with ssl_forced
// answers HTTP with a 301 to HTTPS.
//
// Its files, one concept each: server.go (the Server, its API's routes,
// the record of requests), tokens.go (login, refresh and NPM's answers to
// a bad token), hosts.go (proxy hosts), certificates.go, nginx.go (what
// nginx serves: configure, reload, proxying), wire.go (request bodies,
// NPM's error shape, field helpers), schema.go (NPM's schema files).
//
// It sits beside the other fixtures of internal/acctest and imports nothing
// from the provider; only tests import it.
package npmstandin

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// Request is one API request the stand-in answered.
type Request struct {
	Method string
	Path   string // without the query string, e.g. "/api/nginx/proxy-hosts/3"
	Body   string // as sent, the password replaced by "[redacted]"
	Status int
	Error  string // the error message answered, "" for a 2xx
}

func (r Request) String() string {
	if r.Error != "" {
		return fmt.Sprintf("%s %s %d %s", r.Method, r.Path, r.Status, r.Error)
	}
	return fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status)
}

// Server is a running NPM stand-in: the API on URL, nginx on HTTPURL.
type Server struct {
	// URL is NPM's admin address, as a user configures it; the API is under
	// URL + "/api".
	URL string
	// HTTPURL is NPM's public HTTP address, where its nginx serves the hosts.
	HTTPURL string
	// HTTPSURL is its public HTTPS address.
	HTTPSURL string

	email, password string
	schemas         *Schemas
	proxyTransport  *http.Transport

	mu             sync.Mutex
	tokenLifetime  time.Duration
	tokens         map[string]time.Time // token -> expiry
	issued         []string
	logins         int
	refreshes      int
	hosts          map[int]*host
	lastID         int
	failWrites     int
	rejected       map[string]string // "host:port" -> nginx -t error
	rejectWhere    func(string) bool
	rejectWhereErr string
	reloadDelay    time.Duration
	requests       []Request
	reloadSeq      int
	appliedSeq     int
	live           map[string]string // domain -> upstream nginx serves now
	liveCerts      map[string]int    // domain -> certificate nginx serves now
	forced         map[string]bool   // domain -> ssl_forced, as nginx serves now
	certs          map[int]*certificate
	lastCertID     int
	le             *acctest.TestCA   // the stand-in's Let's Encrypt
	leRefused      map[string]string // domain -> certbot's detail
}

// New starts a stand-in with one account (email, password) and stops it when
// the test ends. Tokens live one day, as on NPM, until SetTokenLifetime.
func New(t testing.TB, email, password string) *Server {
	t.Helper()
	schemas, err := LoadSchemas()
	if err != nil {
		t.Fatalf("npm stand-in: %v", err)
	}
	s := &Server{
		email:          email,
		password:       password,
		schemas:        schemas,
		proxyTransport: &http.Transport{},
		tokenLifetime:  24 * time.Hour,
		tokens:         map[string]time.Time{},
		hosts:          map[int]*host{},
		rejected:       map[string]string{},
		// Measured on NPM: the new upstream serves ~0.1 s after the API answers.
		reloadDelay: 100 * time.Millisecond,
		live:        map[string]string{},
		liveCerts:   map[string]int{},
		forced:      map[string]bool{},
		certs:       map[int]*certificate{},
		le:          acctest.MustTestCA(t, "npm stand-in Let's Encrypt"),
		leRefused:   map[string]string{},
	}
	api := httptest.NewServer(http.HandlerFunc(s.serveAPI))
	web := httptest.NewServer(http.HandlerFunc(s.serveNginx))
	secure := httptest.NewUnstartedServer(http.HandlerFunc(s.serveNginx))
	secure.TLS = &tls.Config{GetCertificate: s.tlsCertificate}
	secure.StartTLS()
	t.Cleanup(func() {
		api.Close()
		web.Close()
		secure.Close()
		s.proxyTransport.CloseIdleConnections()
	})
	s.URL, s.HTTPURL, s.HTTPSURL = api.URL, web.URL, secure.URL
	return s
}

// Requests returns the API requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// serveAPI answers NPM's REST API under /api.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(raw))
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		// The record never holds the password or a private key, so a test
		// may print it.
		body := redactKeys(strings.ReplaceAll(string(raw), s.password, "[redacted]"))
		s.requests = append(s.requests, Request{r.Method, r.URL.Path, body, rec.status, rec.errMsg})
	}()

	p := r.URL.Path
	switch {
	case p == "/api/tokens" && r.Method == http.MethodPost:
		s.login(rec, r)
	case p == "/api/tokens" && r.Method == http.MethodGet:
		if s.authorize(rec, r) {
			s.refresh(rec)
		}
	case p == "/api/nginx/proxy-hosts" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		if !s.authorize(rec, r) {
			return
		}
		if r.Method == http.MethodGet {
			s.list(rec, r)
		} else {
			s.create(rec, r)
		}
	case p == "/api/nginx/certificates" || strings.HasPrefix(p, "/api/nginx/certificates/"):
		if !s.authorize(rec, r) {
			return
		}
		var rest []string
		if tail := strings.Trim(strings.TrimPrefix(p, "/api/nginx/certificates"), "/"); tail != "" {
			rest = strings.Split(tail, "/")
		}
		s.serveCertificates(rec, r, rest)
	case strings.HasPrefix(p, "/api/nginx/proxy-hosts/"):
		rest := strings.Split(strings.TrimPrefix(p, "/api/nginx/proxy-hosts/"), "/")
		id, err := strconv.Atoi(rest[0])
		if err != nil || id < 1 || len(rest) > 2 {
			notFound(rec, p)
			return
		}
		if !s.authorize(rec, r) {
			return
		}
		switch {
		case len(rest) == 1 && r.Method == http.MethodGet:
			s.get(rec, r, id)
		case len(rest) == 1 && r.Method == http.MethodPut:
			s.update(rec, r, id)
		case len(rest) == 1 && r.Method == http.MethodDelete:
			s.delete(rec, id)
		case len(rest) == 2 && r.Method == http.MethodPost && (rest[1] == "enable" || rest[1] == "disable"):
			s.setEnabled(rec, id, rest[1] == "enable")
		default:
			notFound(rec, p)
		}
	default:
		notFound(rec, p)
	}
}
