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
// It sits beside the other fixtures of internal/acctest and imports nothing
// from the provider; only tests import it.
package npmstandin

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

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

// Host is a proxy host as the stand-in stores it.
type Host struct {
	ID          int
	DomainNames []string
	ForwardHost string
	ForwardPort int
	Enabled     bool
	Meta        map[string]any
	// CertificateID, SSLForced and HTTP2Support are what the host serves
	// HTTPS with.
	CertificateID           int
	SSLForced, HTTP2Support bool
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

type host struct {
	row     map[string]any // the stored row, as the API returns it unexpanded
	deleted bool
	// config is what nginx was last given for this host; nil when it has
	// none (never configured, refused by nginx -t, disabled, deleted).
	config *nginxConfig
}

type nginxConfig struct {
	domains   []string
	upstream  string
	cert      int // 0: none
	sslForced bool
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

// FailWritesAfterStoring makes the next n proxy-host writes (create, update,
// delete) store the change and then answer 500 without touching nginx, as
// NPM does when nginx is down.
func (s *Server) FailWritesAfterStoring(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWrites = n
}

// RejectUpstream makes nginx refuse (nginx -t) every generated config that
// forwards to upstream ("host:port"), with nginxErr as meta.nginx_err; an
// empty nginxErr accepts it again.
func (s *Server) RejectUpstream(upstream, nginxErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nginxErr == "" {
		delete(s.rejected, upstream)
		return
	}
	s.rejected[upstream] = nginxErr
}

// RejectUpstreamsWhere makes nginx refuse every generated config whose
// upstream ("host:port") match reports, with nginxErr as meta.nginx_err: a
// test that does not know green's port in advance refuses "anything but
// blue". A nil match accepts them again.
func (s *Server) RejectUpstreamsWhere(match func(upstream string) bool, nginxErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectWhere, s.rejectWhereErr = match, nginxErr
}

// SetReloadDelay sets how long after a write the change reaches HTTPURL.
func (s *Server) SetReloadDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloadDelay = d
}

// Requests returns the API requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
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

// Hosts returns the proxy hosts that are not deleted, by id.
func (s *Server) Hosts() []Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Host
	for _, id := range s.liveIDs() {
		row := s.hosts[id].row
		meta, _ := row["meta"].(map[string]any)
		out = append(out, Host{
			ID:          id,
			DomainNames: slices.Clone(row["domain_names"].([]string)),
			ForwardHost: row["forward_host"].(string),
			ForwardPort: intField(row, "forward_port"),
			Enabled:     row["enabled"] == true,
			Meta:        cloneMap(meta),

			CertificateID: intField(row, "certificate_id"),
			SSLForced:     row["ssl_forced"] == true,
			HTTP2Support:  row["http2_support"] == true,
		})
	}
	return out
}

// SeedHost creates a proxy host directly, as a user of the NPM UI would, and
// configures nginx for it; it is not recorded as a request. It returns the id.
func (s *Server) SeedHost(domains []string, forwardHost string, forwardPort int, meta map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := map[string]any{
		"domain_names":   toAny(domains),
		"forward_scheme": "http",
		"forward_host":   forwardHost,
		"forward_port":   json.Number(strconv.Itoa(forwardPort)),
	}
	if meta != nil {
		body["meta"] = cloneMap(meta)
	}
	h := s.insert(body)
	s.configure(h)
	return intField(h.row, "id")
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

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	out := []any{}
	for _, id := range s.liveIDs() {
		out = append(out, s.view(s.hosts[id], expansions(r)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id int) {
	h := s.lookup(w, id)
	if h == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.view(h, expansions(r)))
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.schemas.HostCreate)
	if !ok || !s.playable(w, body) {
		return
	}
	if taken := s.takenDomain(body["domain_names"], 0); taken != "" {
		writeError(w, http.StatusBadRequest, taken+" is already in use")
		return
	}
	h := s.insert(body)
	// NPM answers with the row it read before configuring nginx, so the
	// answer's meta lacks nginx_online; a GET afterwards shows it.
	answer := s.view(h, []string{"owner", "certificate", "access_list"})
	if s.failWrite(w) {
		return
	}
	s.configure(h)
	writeJSON(w, http.StatusCreated, answer)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id int) {
	body, ok := s.readBody(w, r, s.schemas.HostUpdate)
	if !ok || !s.playable(w, body) {
		return
	}
	if d, ok := body["domain_names"]; ok {
		if taken := s.takenDomain(d, id); taken != "" {
			writeError(w, http.StatusBadRequest, taken+" is already in use")
			return
		}
	}
	h := s.lookup(w, id)
	if h == nil {
		return
	}
	// A partial update: only the keys sent change (meta included: a PUT with
	// meta replaces it, NPM then merges nginx_online/nginx_err into it).
	for k, v := range normalise(body) {
		h.row[k] = v
	}
	h.row["modified_on"] = isoTime(time.Now())
	if s.failWrite(w) {
		return
	}
	// NPM leaves nginx alone for a disabled host, which is why PUT
	// {"enabled": false} does not stop traffic.
	if h.row["enabled"] == true {
		s.configure(h)
	}
	writeJSON(w, http.StatusOK, s.view(h, []string{"owner", "certificate", "access_list"}))
}

func (s *Server) delete(w http.ResponseWriter, id int) {
	h := s.lookup(w, id)
	if h == nil {
		return
	}
	h.deleted = true
	h.config = nil
	s.reload()
	if s.failWrite(w) {
		return
	}
	writeJSON(w, http.StatusOK, true)
}

func (s *Server) setEnabled(w http.ResponseWriter, id int, enable bool) {
	h := s.lookup(w, id)
	if h == nil {
		return
	}
	if (h.row["enabled"] == true) == enable {
		if enable {
			writeError(w, http.StatusBadRequest, "Host is already enabled")
		} else {
			writeError(w, http.StatusBadRequest, "Host is already disabled")
		}
		return
	}
	h.row["enabled"] = enable
	if enable {
		s.configure(h)
	} else {
		h.config = nil
		s.reload()
	}
	writeJSON(w, http.StatusOK, true)
}

// playable refuses what NPM accepts but the stand-in does not play:
// certificate_id "new" (NPM requests a Let's Encrypt certificate inside
// the host's write), and a certificate that does not exist.
func (s *Server) playable(w http.ResponseWriter, body map[string]any) bool {
	switch id := body["certificate_id"].(type) {
	case string:
		writeError(w, http.StatusBadRequest, `npm stand-in: certificate_id "new" is not played; create the certificate first`)
		return false
	case json.Number:
		n, _ := id.Int64()
		if c, ok := s.certs[int(n)]; n != 0 && (!ok || c.deleted) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("npm stand-in: certificate %d does not exist", n))
			return false
		}
	}
	return true
}

// readBody decodes a JSON body and validates it against sch. Like NPM's
// express.json, a body without a JSON content type is read as {}.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, sch *jsonschema.Schema) (map[string]any, bool) {
	var doc any = map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var err error
		doc, err = jsonschema.UnmarshalJSON(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Unexpected token in JSON")
			return nil, false
		}
	}
	coerce(doc)
	if msg := Message(sch, doc); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return nil, false
	}
	return doc.(map[string]any), true
}

// coerce converts numeric strings where the schema wants an integer, as NPM's
// validator (ajv with coerceTypes) does: "forward_port": "80" is accepted.
func coerce(doc any) {
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	for _, k := range []string{"forward_port", "access_list_id"} {
		if str, ok := m[k].(string); ok {
			if _, err := strconv.Atoi(str); err == nil {
				m[k] = json.Number(str)
			}
		}
	}
}

// failWrite answers 500 when a write failure was armed; the change is
// already stored by then, as on NPM with nginx down.
func (s *Server) failWrite(w http.ResponseWriter) bool {
	if s.failWrites == 0 {
		return false
	}
	s.failWrites--
	writeError(w, http.StatusInternalServerError, "Command failed: nginx -t -q\nnginx: [alert] could not open error log file")
	return true
}

func (s *Server) insert(body map[string]any) *host {
	s.lastID++
	now := isoTime(time.Now())
	row := map[string]any{
		"id": s.lastID, "created_on": now, "modified_on": now, "owner_user_id": 1,
		"access_list_id": 0, "certificate_id": 0, "ssl_forced": false,
		"caching_enabled": false, "block_exploits": false, "advanced_config": "",
		"meta": map[string]any{}, "allow_websocket_upgrade": false,
		"http2_support": false, "forward_scheme": "http", "enabled": true,
		"locations": []any{}, "hsts_enabled": false, "hsts_subdomains": false,
		"trust_forwarded_proto": false,
	}
	for k, v := range normalise(body) {
		row[k] = v
	}
	h := &host{row: row}
	s.hosts[s.lastID] = h
	return h
}

// normalise turns a validated body into stored values: domain names sorted
// (NPM's model sorts them on insert and update), integers as int.
func normalise(body map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		switch k {
		case "domain_names":
			var ds []string
			for _, d := range v.([]any) {
				ds = append(ds, d.(string))
			}
			sort.Strings(ds)
			v = ds
		case "forward_port", "access_list_id", "certificate_id":
			if n, ok := v.(json.Number); ok {
				i, _ := n.Int64()
				v = int(i)
			}
		case "meta":
			v = cloneMap(v.(map[string]any))
		}
		out[k] = v
	}
	return out
}

// configure plays NPM's internalNginx.configure: generate the host's config,
// test it, record the verdict in meta (merged into what meta holds), reload.
func (s *Server) configure(h *host) {
	up := net.JoinHostPort(fmt.Sprint(h.row["forward_host"]), strconv.Itoa(intField(h.row, "forward_port")))
	meta := cloneMap(h.row["meta"].(map[string]any))
	msg, bad := s.rejected[up]
	if !bad && s.rejectWhere != nil && s.rejectWhere(up) {
		msg, bad = s.rejectWhereErr, true
	}
	if bad {
		meta["nginx_online"], meta["nginx_err"] = false, msg
		// NPM renames a refused config to .err: the host serves nothing.
		h.config = nil
	} else {
		meta["nginx_online"], meta["nginx_err"] = true, nil
		h.config = &nginxConfig{domains: slices.Clone(h.row["domain_names"].([]string)), upstream: up}
		if id := intField(h.row, "certificate_id"); id > 0 {
			if c, ok := s.certs[id]; ok && !c.deleted {
				h.config.cert, h.config.sslForced = id, h.row["ssl_forced"] == true
			}
		}
	}
	h.row["meta"] = meta
	s.reload()
}

// reload schedules what nginx serves to change after the reload delay; a
// later reload always wins over an earlier one.
func (s *Server) reload() {
	table, certs, forced := map[string]string{}, map[string]int{}, map[string]bool{}
	for _, h := range s.hosts {
		if h.deleted || h.config == nil {
			continue
		}
		for _, d := range h.config.domains {
			table[d] = h.config.upstream
			if h.config.cert > 0 {
				certs[d], forced[d] = h.config.cert, h.config.sslForced
			}
		}
	}
	s.reloadSeq++
	seq := s.reloadSeq
	time.AfterFunc(s.reloadDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if seq > s.appliedSeq {
			s.appliedSeq, s.live, s.liveCerts, s.forced = seq, table, certs, forced
		}
	})
}

func (s *Server) lookup(w http.ResponseWriter, id int) *host {
	h, ok := s.hosts[id]
	if !ok || h.deleted {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Not Found - %d", id))
		return nil
	}
	return h
}

// takenDomain returns the first domain in domains that a live host other
// than except already carries.
func (s *Server) takenDomain(domains any, except int) string {
	list, _ := domains.([]any)
	for _, d := range list {
		for id, h := range s.hosts {
			if id != except && !h.deleted && slices.Contains(h.row["domain_names"].([]string), d.(string)) {
				return d.(string)
			}
		}
	}
	return ""
}

// liveIDs lists the hosts that are not deleted in NPM's list order (by
// domain names).
func (s *Server) liveIDs() []int {
	var ids []int
	for id, h := range s.hosts {
		if !h.deleted {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a := strings.Join(s.hosts[ids[i]].row["domain_names"].([]string), ",")
		b := strings.Join(s.hosts[ids[j]].row["domain_names"].([]string), ",")
		if a != b {
			return a < b
		}
		return ids[i] < ids[j]
	})
	return ids
}

// view is a host as the API returns it, with the requested expansions.
func (s *Server) view(h *host, expand []string) map[string]any {
	out := cloneMap(h.row)
	out["domain_names"] = slices.Clone(h.row["domain_names"].([]string))
	out["meta"] = cloneMap(h.row["meta"].(map[string]any))
	for _, e := range expand {
		switch e {
		case "owner":
			out["owner"] = map[string]any{
				"id": 1, "created_on": "2026-11-26T00:00:00.000Z", "modified_on": "2026-11-26T00:00:00.000Z",
				"is_disabled": false, "email": s.email, "name": "Administrator", "nickname": "Admin",
				"avatar": "", "roles": []any{"admin"},
			}
		case "certificate":
			out[e] = nil
			if c, ok := s.certs[intField(h.row, "certificate_id")]; ok && !c.deleted {
				out[e] = cloneMap(c.row)
			}
		case "access_list":
			out[e] = nil
		}
	}
	return out
}

func expansions(r *http.Request) []string {
	v := r.URL.Query().Get("expand")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// serveNginx plays NPM's nginx on HTTPURL.
func (s *Server) serveNginx(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(r.Host)
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	s.mu.Lock()
	up, ok := s.live[name]
	key := name
	if !ok {
		if _, parent, found := strings.Cut(name, "."); found {
			key = "*." + parent
			up, ok = s.live[key]
		}
	}
	forced := s.forced[key]
	s.mu.Unlock()
	if ok && forced && r.TLS == nil && r.URL.Path != "/.well-known/acme-challenge/test-challenge" {
		// NPM's force-ssl.conf.
		http.Redirect(w, r, "https://"+name+r.URL.RequestURI(), http.StatusMovedPermanently)
		return
	}
	if !ok {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, DefaultPage)
		return
	}
	s.proxyTo(w, r, up)
}

// DefaultPage is what NPM's nginx answers, with HTTP 200, for a host it has
// no proxy host for (docker/rootfs/var/www/html/index.html in NPM's repo).
const DefaultPage = `<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Default Site</title>
    </head>
    <body>
        <div class="container">
            <div class="jumbotron">
                <h1>Congratulations!</h1>
                <p>You've successfully started the Nginx Proxy Manager.</p>
                <p>If you're seeing this site then you're trying to access a host that isn't set up yet.</p>
                <p>Log in to the Admin panel to get started.</p>
            </div>
        </div>
    </body>
</html>
`

type statusRecorder struct {
	http.ResponseWriter
	status int
	errMsg string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers in NPM's error shape (components/error.json).
func writeError(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.errMsg = msg
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

func notFound(w http.ResponseWriter, path string) {
	writeError(w, http.StatusNotFound, "Not Found - "+strings.TrimPrefix(path, "/api"))
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func intField(row map[string]any, k string) int {
	i, _ := row[k].(int)
	return i
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
