package npm

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// createHost POSTs the host. After an answer that may hide a stored host
// (5xx, none) it looks the host up before retrying, since NPM refuses a
// second create of the same domain. It returns the host id whenever a host
// exists, also with an error.
func (r *Router) createHost(ctx context.Context, route proxy.Route, target upstream) (int, error) {
	body := createBody{
		DomainNames:   route.Domains,
		ForwardScheme: "http",
		ForwardHost:   target.host,
		ForwardPort:   target.port,
		Meta:          map[string]string{markKey: route.Workload},
	}
	again := r.retrier()
	for {
		var h proxyHost
		err := r.api.call(ctx, http.MethodPost, "/nginx/proxy-hosts", body, &h)
		if err == nil {
			return h.ID, nil
		}
		if !mayBeStored(ctx, err) {
			return 0, err
		}
		if hosts, lerr := r.list(ctx); lerr == nil {
			if own, _ := ownedHost(hosts, route.Workload); own != nil {
				// Stored, but NPM failed before or while configuring nginx:
				// an update of the same target makes it generate the config.
				p := hostPatch{ForwardHost: target.host, ForwardPort: target.port}
				return own.ID, r.putHost(ctx, own.ID, p)
			}
		}
		if !again.next(ctx, err) {
			return 0, again.explain(err)
		}
	}
}

// requireOnline reads the host back and fails unless nginx accepted its
// config: NPM's answer to a write does not always say (a 201 has no
// nginx_online), a GET does.
func (r *Router) requireOnline(ctx context.Context, id int) error {
	var h proxyHost
	if err := r.read(ctx, fmt.Sprintf("/nginx/proxy-hosts/%d", id), &h); err != nil {
		return err
	}
	if h.Meta.online() {
		return nil
	}
	if h.Meta.NginxErr != "" {
		return fmt.Errorf("NPM's nginx refused the config of proxy host %d: %s", id, h.Meta.NginxErr)
	}
	return fmt.Errorf("NPM did not confirm that nginx took the config of proxy host %d (meta.nginx_online is not true)", id)
}

// list reads every proxy host in one call.
func (r *Router) list(ctx context.Context) ([]proxyHost, error) {
	var hosts []proxyHost
	if err := r.read(ctx, "/nginx/proxy-hosts", &hosts); err != nil {
		return nil, err
	}
	return hosts, nil
}

// read GETs path, retrying answers that may be transient.
func (r *Router) read(ctx context.Context, path string, out any) error {
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodGet, path, nil, out)
		if err == nil || !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}

// putHost sends a partial update. The same PUT again is harmless, so an
// answer that may hide a stored change is simply retried: NPM regenerates
// the nginx config on each successful PUT.
func (r *Router) putHost(ctx context.Context, id int, p hostPatch) error {
	path := fmt.Sprintf("/nginx/proxy-hosts/%d", id)
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodPut, path, p, nil)
		if err == nil || !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}

// enableHost enables a disabled host, which makes NPM configure nginx.
func (r *Router) enableHost(ctx context.Context, id int) error {
	err := r.api.call(ctx, http.MethodPost, fmt.Sprintf("/nginx/proxy-hosts/%d/enable", id), nil, nil)
	if statusOf(err) == http.StatusBadRequest && strings.Contains(messageOf(err), "already enabled") {
		return nil
	}
	return err
}

// deleteHost deletes a host; a 404 means it is gone already. After an answer
// that may hide a stored delete, the host is looked up before retrying.
func (r *Router) deleteHost(ctx context.Context, id int) error {
	path := fmt.Sprintf("/nginx/proxy-hosts/%d", id)
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodDelete, path, nil, nil)
		if err == nil || statusOf(err) == http.StatusNotFound {
			return nil
		}
		if !mayBeStored(ctx, err) {
			return err
		}
		var h proxyHost
		if gerr := r.api.call(ctx, http.MethodGet, path, nil, &h); statusOf(gerr) == http.StatusNotFound {
			return nil
		}
		if !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}
