package npm

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// createHost POSTs the host, with certificate (0: none) attached, HTTP
// forced to HTTPS and HTTP/2 on when there is one. After an answer that
// may hide a stored host (5xx, none) it looks the host up before retrying,
// since NPM refuses a second create of the same domain. It returns the host
// id whenever a host exists, also with an error.
func (r *Router) createHost(ctx context.Context, route proxy.Route, target upstream, certificate int) (int, error) {
	body := createBody{
		DomainNames:   route.Domains,
		ForwardScheme: "http",
		ForwardHost:   target.host,
		ForwardPort:   target.port,
		CertificateID: certificate,
		SSLForced:     certificate > 0,
		HTTP2Support:  certificate > 0,
		Meta:          hostMeta{}.with(route.Workload, certificate),
	}
	var id int
	err := r.retries.Do(ctx, func(ctx context.Context) error {
		var h proxyHost
		err := r.api.call(ctx, http.MethodPost, "/nginx/proxy-hosts", body, &h)
		if err == nil {
			id = h.ID
			return nil
		}
		if !mayBeStored(ctx, err) {
			return err
		}
		if hosts, lerr := r.list(ctx); lerr == nil {
			if own, _ := ownedHost(hosts, route.Workload); own != nil {
				// Stored, but NPM failed before or while configuring nginx:
				// an update of the same target makes it generate the config.
				id = own.ID
				p := hostPatch{ForwardHost: target.host, ForwardPort: target.port}
				return retry.Stop(r.putHost(ctx, own.ID, p))
			}
		}
		return err
	})
	return id, err
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
	return r.retries.Do(ctx, func(ctx context.Context) error {
		return r.api.call(ctx, http.MethodGet, path, nil, out)
	})
}

// putHost sends a partial update. The same PUT again is harmless, so an
// answer that may hide a stored change is simply retried: NPM regenerates
// the nginx config on each successful PUT.
func (r *Router) putHost(ctx context.Context, id int, p hostPatch) error {
	path := fmt.Sprintf("/nginx/proxy-hosts/%d", id)
	return r.retries.Do(ctx, func(ctx context.Context) error {
		return r.api.call(ctx, http.MethodPut, path, p, nil)
	})
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
	return r.retries.Do(ctx, func(ctx context.Context) error {
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
		return err
	})
}
