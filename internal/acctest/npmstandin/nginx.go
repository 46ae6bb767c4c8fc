package npmstandin

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

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
