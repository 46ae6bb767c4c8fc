package caddy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// server is one read of the provider's server, and the Etag that makes a
// write conditional on nothing having changed since.
type server struct {
	exists bool
	// etag is the version of the path that was read: the server itself, or
	// the whole config when a parent of the server is missing.
	etag           string
	keys           map[string]json.RawMessage
	listen         []string
	autoHTTPS      map[string]json.RawMessage // nil when absent or not an object
	routes         []json.RawMessage
	routesIsList   bool
	httpsDisabled  bool
	hasHTTPSObject bool
}

// route returns the index and the config of the route with that @id, or -1.
func (s *server) route(id string) (int, json.RawMessage) {
	for i, raw := range s.routes {
		if routeID(raw) == id {
			return i, raw
		}
	}
	return -1, nil
}

// routeID returns the "@id" of a route, or "" when it has none.
func routeID(raw json.RawMessage) string {
	var head struct {
		ID string `json:"@id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return ""
	}
	return head.ID
}

// readServer reads the provider's server in one GET (see readConfig).
func (r *Router) readServer(ctx context.Context) (*server, error) {
	body, etag, err := r.readConfig(ctx, r.serverPath)
	if err != nil {
		return nil, err
	}
	return r.parseServer(body, etag)
}

// readConfig reads one path of Caddy's config (under /config/) and the
// Etag of the read, which makes a later write conditional on it. A path
// that is absent reads as null. Caddy answers null when the parent object
// exists without the key, and 400 ("invalid traversal path") when a parent
// is missing; rather than trust that wording, or that status across
// versions, a 400 or 404 is settled by reading the whole config, whose Etag
// then guards the write that creates the path.
func (r *Router) readConfig(ctx context.Context, path string) (json.RawMessage, string, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, path, nil, "")
	if isStatus(err, http.StatusBadRequest) || isStatus(err, http.StatusNotFound) {
		return r.readConfigFromRoot(ctx, path, err)
	}
	if err != nil {
		return nil, "", err
	}
	if rep.etag == "" {
		return nil, "", fmt.Errorf("caddy admin API GET %s: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes", path)
	}
	return rep.body, rep.etag, nil
}

func (r *Router) readConfigFromRoot(ctx context.Context, path string, pathErr error) (json.RawMessage, string, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, "/config/", nil, "")
	if err != nil {
		return nil, "", err
	}
	if rep.etag == "" {
		return nil, "", fmt.Errorf("caddy admin API GET /config/: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes")
	}
	node := json.RawMessage(rep.body)
	for _, key := range strings.Split(strings.Trim(strings.TrimPrefix(path, "/config/"), "/"), "/") {
		var obj map[string]json.RawMessage
		// A parent that is not an object is not one the provider can add
		// to; report the original answer.
		if err := json.Unmarshal(node, &obj); err != nil {
			return nil, "", pathErr
		}
		next, ok := obj[key]
		if !ok {
			// Absent: created under the Etag of the whole config.
			return json.RawMessage("null"), rep.etag, nil
		}
		node = next
	}
	// Another writer created it in between: use it, guarded by the Etag
	// of the whole config.
	return node, rep.etag, nil
}

func (r *Router) parseServer(body []byte, etag string) (*server, error) {
	srv := &server{etag: etag}
	if err := json.Unmarshal(body, &srv.keys); err != nil {
		return nil, fmt.Errorf("decode %s: %w", r.serverPath, err)
	}
	if srv.keys == nil { // the JSON was null
		return srv, nil
	}
	srv.exists = true
	if raw, ok := srv.keys["listen"]; ok {
		if err := json.Unmarshal(raw, &srv.listen); err != nil {
			return nil, fmt.Errorf("decode %s/listen: %w", r.serverPath, err)
		}
	}
	if raw, ok := srv.keys["automatic_https"]; ok && json.Unmarshal(raw, &srv.autoHTTPS) == nil && srv.autoHTTPS != nil {
		srv.hasHTTPSObject = true
		if d, ok := srv.autoHTTPS["disable"]; ok {
			if err := json.Unmarshal(d, &srv.httpsDisabled); err != nil {
				return nil, fmt.Errorf("decode %s/automatic_https/disable: %w", r.serverPath, err)
			}
		}
	}
	if raw, ok := srv.keys["routes"]; ok {
		if err := json.Unmarshal(raw, &srv.routes); err != nil {
			return nil, fmt.Errorf("decode %s/routes: %w", r.serverPath, err)
		}
		srv.routesIsList = srv.routes != nil
	}
	return srv, nil
}

// createServer creates the provider's server with its first routes, in one
// write guarded by the Etag of the read that found it missing: of two
// processes that both found it missing, one wins and the other gets 412,
// re-reads, and appends its route to the winner's server.
func (r *Router) createServer(ctx context.Context, etag string, routes []json.RawMessage) error {
	if r.https != nil && r.https.RedirectHTTP {
		routes = append([]json.RawMessage{r.redirectRoute()}, routes...)
	}
	srv := map[string]any{
		"listen":          r.listen,
		"routes":          routes,
		"automatic_https": map[string]bool{"disable": true},
	}
	if r.https != nil {
		srv["tls_connection_policies"] = tlsConnectionPolicies
	}
	// PUT creates the missing parents (apps, http, servers) on the way and
	// leaves every sibling key alone.
	_, err := r.admin.do(ctx, http.MethodPut, r.serverPath, srv, etag)
	return err
}

// ensureServer creates the provider's server when it is missing, and
// brings its settings in line with Config, without touching its routes.
func (r *Router) ensureServer(ctx context.Context) error {
	return r.retry(ctx, func() error {
		srv, err := r.readServer(ctx)
		if err != nil {
			return err
		}
		if !srv.exists {
			return r.createServer(ctx, srv.etag, []json.RawMessage{})
		}
		fixed, err := r.fixSettings(ctx, srv)
		if err == nil && fixed {
			return errRedo
		}
		return err
	})
}

// tlsConnectionPolicies turn TLS on for the server's listeners but the
// one on Caddy's http_port, each certificate chosen by the name the client
// asks for.
var tlsConnectionPolicies = []map[string]any{{}}

// fixSettings makes one change that brings the server's settings in line
// with Config (listen; automatic HTTPS off; TLS connection policies and
// the redirect route with HTTPS), and reports whether it made one. Only
// those are written; the rest of the server is left as it is.
func (r *Router) fixSettings(ctx context.Context, srv *server) (bool, error) {
	if !slices.Equal(srv.listen, r.listen) {
		return true, r.setKey(ctx, srv, "listen", r.listen)
	}
	if !srv.httpsDisabled {
		if srv.hasHTTPSObject {
			method := http.MethodPut
			if _, ok := srv.autoHTTPS["disable"]; ok {
				method = http.MethodPatch
			}
			_, err := r.admin.do(ctx, method, r.serverPath+"/automatic_https/disable", true, srv.etag)
			return true, err
		}
		return true, r.setKey(ctx, srv, "automatic_https", map[string]bool{"disable": true})
	}
	_, hasPolicies := srv.keys["tls_connection_policies"]
	switch {
	case r.https != nil && !hasPolicies:
		return true, r.setKey(ctx, srv, "tls_connection_policies", tlsConnectionPolicies)
	case r.https == nil && hasPolicies:
		_, err := r.admin.do(ctx, http.MethodDelete, r.serverPath+"/tls_connection_policies", nil, srv.etag)
		return true, err
	}
	return r.fixRedirect(ctx, srv)
}

// fixRedirect keeps the redirect route first in the server when HTTPS
// redirects HTTP, and nowhere otherwise.
func (r *Router) fixRedirect(ctx context.Context, srv *server) (bool, error) {
	want := r.https != nil && r.https.RedirectHTTP
	id := r.redirectID()
	routes := slices.DeleteFunc(slices.Clone(srv.routes), func(raw json.RawMessage) bool { return routeID(raw) == id })
	if want {
		if len(srv.routes) > 0 && len(routes) == len(srv.routes)-1 && sameRaw(srv.routes[0], r.redirectRoute()) {
			return false, nil
		}
		routes = append([]json.RawMessage{r.redirectRoute()}, routes...)
	} else if len(routes) == len(srv.routes) {
		return false, nil
	}
	if srv.routesIsList {
		_, err := r.admin.do(ctx, http.MethodPatch, r.serverPath+"/routes", routes, srv.etag)
		return true, err
	}
	return true, r.setKey(ctx, srv, "routes", routes)
}

// setKey writes one key of the server: PATCH replaces an existing key, PUT
// creates a missing one (Caddy rejects the other combinations).
func (r *Router) setKey(ctx context.Context, srv *server, key string, value any) error {
	method := http.MethodPut
	if _, ok := srv.keys[key]; ok {
		method = http.MethodPatch
	}
	_, err := r.admin.do(ctx, method, r.serverPath+"/"+key, value, srv.etag)
	return err
}
