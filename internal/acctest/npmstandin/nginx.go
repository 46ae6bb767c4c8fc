package npmstandin

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type nginxConfig struct {
	domains   []string
	upstream  string
	cert      int // 0: none
	sslForced bool
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

// proxyTo forwards a request to upstream ("host:port") the way NPM's proxy
// template does: scheme http, the client's Host header kept, 502 when the
// upstream cannot be reached.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, upstream string) {
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: upstream})
			pr.Out.Host = pr.In.Host
		},
		Transport: s.proxyTransport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>openresty</center></body></html>\n"))
		},
	}
	p.ServeHTTP(w, r)
}
