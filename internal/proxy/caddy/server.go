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

// readServer reads the provider's server in one GET. Caddy answers null when
// the servers map exists without it, and 400 ("invalid traversal path") when
// a parent (apps, http, servers) is missing. Rather than trust that wording,
// or that status across versions, a 400 or 404 is settled by reading the
// whole config, whose Etag then guards the creation of the server.
func (r *Router) readServer(ctx context.Context) (*server, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, r.serverPath, nil, "")
	if isStatus(err, http.StatusBadRequest) || isStatus(err, http.StatusNotFound) {
		return r.readServerFromRoot(ctx, err)
	}
	if err != nil {
		return nil, err
	}
	if rep.etag == "" {
		return nil, fmt.Errorf("caddy admin API GET %s: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes", r.serverPath)
	}
	return r.parseServer(rep.body, rep.etag)
}

func (r *Router) readServerFromRoot(ctx context.Context, serverErr error) (*server, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, "/config/", nil, "")
	if err != nil {
		return nil, err
	}
	if rep.etag == "" {
		return nil, fmt.Errorf("caddy admin API GET /config/: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes")
	}
	var root struct {
		Apps struct {
			HTTP struct {
				Servers map[string]json.RawMessage `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	// A config whose parents are not objects is not one the provider can
	// add a server to; report the original answer.
	if err := json.Unmarshal(rep.body, &root); err != nil {
		return nil, serverErr
	}
	raw, ok := root.Apps.HTTP.Servers[strings.TrimPrefix(r.serverPath, "/config/apps/http/servers/")]
	if !ok {
		return &server{etag: rep.etag}, nil
	}
	// Another writer created it in between: use it, guarded by the Etag of
	// the whole config.
	return r.parseServer(raw, rep.etag)
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
	srv := map[string]any{
		"listen": r.listen,
		"routes": routes,
	}
	if !r.automaticHTTPS {
		srv["automatic_https"] = map[string]bool{"disable": true}
	}
	// PUT creates the missing parents (apps, http, servers) on the way and
	// leaves every sibling key alone.
	_, err := r.admin.do(ctx, http.MethodPut, r.serverPath, srv, etag)
	return err
}

// fixSettings makes one change that brings the server's listen or
// automatic_https in line with Config, and reports whether it made one.
// Only those keys are written; the rest of the server is left as it is.
func (r *Router) fixSettings(ctx context.Context, srv *server) (bool, error) {
	if !slices.Equal(srv.listen, r.listen) {
		return true, r.setKey(ctx, srv, "listen", r.listen)
	}
	wantDisabled := !r.automaticHTTPS
	if srv.httpsDisabled == wantDisabled {
		return false, nil
	}
	if srv.hasHTTPSObject {
		method := http.MethodPut
		if _, ok := srv.autoHTTPS["disable"]; ok {
			method = http.MethodPatch
		}
		_, err := r.admin.do(ctx, method, r.serverPath+"/automatic_https/disable", wantDisabled, srv.etag)
		return true, err
	}
	return true, r.setKey(ctx, srv, "automatic_https", map[string]bool{"disable": wantDisabled})
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
