package npmstandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

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

type host struct {
	row     map[string]any // the stored row, as the API returns it unexpanded
	deleted bool
	// config is what nginx was last given for this host; nil when it has
	// none (never configured, refused by nginx -t, disabled, deleted).
	config *nginxConfig
}

// FailWritesAfterStoring makes the next n proxy-host writes (create, update,
// delete) store the change and then answer 500 without touching nginx, as
// NPM does when nginx is down.
func (s *Server) FailWritesAfterStoring(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWrites = n
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

// normalise turns a validated body into stored values: domain names as
// NPM stores them, integers as int.
func normalise(body map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		switch k {
		case "domain_names":
			v = domainNames(v.([]any))
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
