package caddy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// tlsPath is Caddy's TLS app, where certificates live apart from routes.
const tlsPath = "/config/apps/tls"

// In the TLS app the provider owns, per workload, entries with an "@id"
// of its own (IDPrefix + workload + a suffix that no workload name can
// end in, since names have no dot): an automation policy whose subjects
// are the domains Caddy gets certificates for, and a loaded custom
// certificate. The names in certificates.automate that appear in one of
// its policies are its own too: that list holds plain strings.
func policyID(workload string) string      { return IDPrefix + workload + ".policy" }
func certificateID(workload string) string { return IDPrefix + workload + ".certificate" }

// ownedWorkload returns the workload of an @id the provider wrote in the
// TLS app, and the entry's kind (".policy", ".certificate").
func ownedWorkload(id string) (workload, kind string, ok bool) {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return "", "", false
	}
	for _, k := range []string{".policy", ".certificate"} {
		if w, ok := strings.CutSuffix(rest, k); ok && w != "" && !strings.Contains(w, ".") {
			return w, k, true
		}
	}
	return "", "", false
}

// tlsApp is one read of Caddy's TLS app, and its Etag.
type tlsApp struct {
	exists       bool
	etag         string
	keys         map[string]json.RawMessage // apps.tls
	certificates map[string]json.RawMessage // apps.tls.certificates
	automation   map[string]json.RawMessage // apps.tls.automation
	policies     []json.RawMessage
	automate     []string
	loadPEM      []json.RawMessage
}

// policy is the part of an automation policy the provider reads back.
type policy struct {
	ID       string   `json:"@id"`
	Subjects []string `json:"subjects"`
}

// loadedPEM is a certificates.load_pem entry. The key is read so that an
// unchanged entry is kept as it is; it never leaves this package.
type loadedPEM struct {
	ID          string   `json:"@id,omitempty"`
	Certificate string   `json:"certificate"`
	Key         string   `json:"key"`
	Tags        []string `json:"tags,omitempty"`
}

func (r *Router) readTLS(ctx context.Context) (*tlsApp, error) {
	body, etag, err := r.readConfig(ctx, tlsPath)
	if err != nil {
		return nil, err
	}
	app := &tlsApp{etag: etag}
	if err := json.Unmarshal(body, &app.keys); err != nil {
		return nil, fmt.Errorf("decode %s: %w", tlsPath, err)
	}
	if app.keys == nil {
		return app, nil
	}
	app.exists = true
	if err := decodeKey(app.keys, "certificates", &app.certificates); err != nil {
		return nil, err
	}
	if err := decodeKey(app.keys, "automation", &app.automation); err != nil {
		return nil, err
	}
	if err := decodeKey(app.certificates, "automate", &app.automate); err != nil {
		return nil, err
	}
	if err := decodeKey(app.certificates, "load_pem", &app.loadPEM); err != nil {
		return nil, err
	}
	if err := decodeKey(app.automation, "policies", &app.policies); err != nil {
		return nil, err
	}
	return app, nil
}

// decodeKey decodes obj[key] into out when present.
func decodeKey(obj map[string]json.RawMessage, key string, out any) error {
	raw, ok := obj[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %s: %w", tlsPath, key, err)
	}
	return nil
}

// certificates returns the custom certificate (PEM, without its key) of
// each workload that has one loaded.
func (app *tlsApp) certificatesByWorkload() map[string]string {
	out := map[string]string{}
	for _, raw := range app.loadPEM {
		if w, kind, ok := ownedWorkload(routeID(raw)); ok && kind == ".certificate" {
			var lp loadedPEM
			if json.Unmarshal(raw, &lp) == nil {
				out[w] = lp.Certificate
			}
		}
	}
	return out
}

// subjects returns the subjects of the workload's policy, nil when it has
// none.
func (app *tlsApp) subjects(workload string) []string {
	for _, raw := range app.policies {
		if routeID(raw) == policyID(workload) {
			var p policy
			if json.Unmarshal(raw, &p) == nil {
				return p.Subjects
			}
		}
	}
	return nil
}

// owned is what the TLS app holds for one workload, as raw entries: what
// Certify puts back after a refusal.
type owned struct {
	policy   json.RawMessage // nil: none
	loadPEM  json.RawMessage // nil: none
	automate []string        // the policy's subjects, when it has one
}

// owned reads the workload's entries.
func (app *tlsApp) owned(workload string) owned {
	var o owned
	if i := slices.IndexFunc(app.policies, func(raw json.RawMessage) bool { return routeID(raw) == policyID(workload) }); i >= 0 {
		o.policy = app.policies[i]
		o.automate = app.subjects(workload)
	}
	if j := slices.IndexFunc(app.loadPEM, func(raw json.RawMessage) bool { return routeID(raw) == certificateID(workload) }); j >= 0 {
		o.loadPEM = app.loadPEM[j]
	}
	return o
}

// set makes the workload's entries o, and reports whether anything
// changed. Entries of other workloads, and the user's, stay as they are,
// in their order; a new policy goes first, so that a user's catch-all
// policy does not shadow it. Of certificates.automate (plain strings) the
// names of the workload's old policy go, unless another owned policy
// names them too, and o's come.
func (app *tlsApp) set(workload string, o owned) (changed bool) {
	old := app.owned(workload)
	var others []string
	for _, raw := range app.policies {
		if w, _, ok := ownedWorkload(routeID(raw)); ok && w != workload {
			others = append(others, app.subjects(w)...)
		}
	}
	var automate []string
	for _, name := range app.automate {
		if slices.Contains(old.automate, name) && !slices.Contains(o.automate, name) && !slices.Contains(others, name) {
			changed = true
			continue
		}
		automate = append(automate, name)
	}
	for _, name := range o.automate {
		if !slices.Contains(automate, name) {
			automate = append(automate, name)
			changed = true
		}
	}
	app.automate = automate
	var c bool
	app.policies, c = setEntry(app.policies, policyID(workload), o.policy, true)
	changed = changed || c
	app.loadPEM, c = setEntry(app.loadPEM, certificateID(workload), o.loadPEM, false)
	return changed || c
}

// setEntry puts entry (nil: none) under id in list: in place, or first or
// last when new.
func setEntry(list []json.RawMessage, id string, entry json.RawMessage, first bool) ([]json.RawMessage, bool) {
	i := slices.IndexFunc(list, func(raw json.RawMessage) bool { return routeID(raw) == id })
	switch {
	case i >= 0 && entry == nil:
		return slices.Delete(slices.Clone(list), i, i+1), true
	case i >= 0 && !sameRaw(list[i], entry):
		out := slices.Clone(list)
		out[i] = entry
		return out, true
	case i < 0 && entry != nil && first:
		return append([]json.RawMessage{entry}, list...), true
	case i < 0 && entry != nil:
		return append(slices.Clone(list), entry), true
	}
	return list, false
}

// want is what the TLS app should hold for workload, serving route's
// domains (nil: nothing, the route is gone). A custom certificate without
// its key keeps the entry loaded now, when it is the same certificate.
func (r *Router) want(app *tlsApp, workload string, route *proxy.Route) (owned, error) {
	var o owned
	if route == nil {
		return o, nil
	}
	if names := automated(*route); len(names) > 0 && r.https != nil {
		o.automate = slices.Clone(names)
		o.policy, _ = json.Marshal(map[string]any{
			"@id":      policyID(workload),
			"subjects": o.automate,
			"issuers":  []any{r.https.issuer()},
		})
	}
	if route.TLS == nil {
		return o, nil
	}
	have := app.owned(workload).loadPEM
	var loaded loadedPEM
	if have != nil && json.Unmarshal(have, &loaded) == nil && loaded.Certificate == route.TLS.CertificatePEM &&
		(route.TLS.KeyPEM == "" || route.TLS.KeyPEM == loaded.Key) {
		o.loadPEM = have
		return o, nil
	}
	if route.TLS.KeyPEM == "" {
		return o, fmt.Errorf("caddy route %q: the private key of its certificate is needed to load it into Caddy (private_key_pem_wo)", IDPrefix+workload)
	}
	o.loadPEM, _ = json.Marshal(loadedPEM{
		ID: certificateID(workload), Certificate: route.TLS.CertificatePEM, Key: route.TLS.KeyPEM,
		Tags: []string{IDPrefix + workload},
	})
	return o, nil
}

// union is what Certify writes: o, keeping what old holds beside it (the
// names and the certificate the route serves until the swap).
func union(old, o owned) owned {
	out := o
	out.automate = slices.Clone(old.automate)
	for _, n := range o.automate {
		if !slices.Contains(out.automate, n) {
			out.automate = append(out.automate, n)
		}
	}
	if len(out.automate) > 0 && (o.policy == nil || len(out.automate) != len(o.automate)) {
		// The policy's subjects are the union; its issuer is the new one.
		p := o.policy
		if p == nil {
			p = old.policy
		}
		var m map[string]any
		_ = json.Unmarshal(p, &m)
		m["subjects"] = out.automate
		out.policy, _ = json.Marshal(m)
	}
	if out.loadPEM == nil {
		out.loadPEM = old.loadPEM
	}
	return out
}

// writeTLS writes app back as one conditional write of the whole TLS app:
// every key the provider does not own goes back byte for byte, and a
// concurrent change anywhere in it makes Caddy answer 412.
func (r *Router) writeTLS(ctx context.Context, app *tlsApp) error {
	keys := cloneKeys(app.keys)
	certificates := cloneKeys(app.certificates)
	automation := cloneKeys(app.automation)
	setOrDelete(certificates, "automate", app.automate, len(app.automate) > 0)
	setOrDelete(certificates, "load_pem", app.loadPEM, len(app.loadPEM) > 0)
	setOrDelete(automation, "policies", app.policies, len(app.policies) > 0)
	setOrDelete(keys, "certificates", certificates, len(certificates) > 0)
	setOrDelete(keys, "automation", automation, len(automation) > 0)
	method := http.MethodPatch
	if !app.exists {
		method = http.MethodPut
	}
	_, err := r.admin.do(ctx, method, tlsPath, keys, app.etag)
	return err
}

func cloneKeys(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setOrDelete(obj map[string]json.RawMessage, key string, value any, set bool) {
	if !set {
		delete(obj, key)
		return
	}
	b, _ := json.Marshal(value)
	obj[key] = b
}

// sameRaw reports whether two JSON values are equal as values.
func sameRaw(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// updateTLS reads the TLS app, sets each workload's entries to what
// change returns for them, and writes it back in one conditional write
// when something changed, redoing the round when another writer came
// first. It returns what the workloads held before.
func (r *Router) updateTLS(ctx context.Context, workloads []string, change func(app *tlsApp, workload string) (owned, error)) (before map[string]owned, err error) {
	err = r.retry(ctx, func() error {
		app, err := r.readTLS(ctx)
		if err != nil {
			return err
		}
		before = map[string]owned{}
		changed := false
		for _, w := range workloads {
			before[w] = app.owned(w)
			o, err := change(app, w)
			if err != nil {
				return retry.Stop(err)
			}
			changed = app.set(w, o) || changed
		}
		if !changed {
			return nil
		}
		return r.writeTLS(ctx, app)
	})
	return before, err
}
