package caddy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// probeInterval is the pause between two TLS handshakes that look for a
// domain's certificate.
const probeInterval = 200 * time.Millisecond

// Certify implements proxy.Certifier: it puts the route's certificates in
// Caddy's TLS app (a policy and automate names for the domains Caddy gets
// certificates for, or the route's own certificate), next to those the
// route serves now, then waits until Caddy serves each domain over HTTPS
// with a certificate for it from the configured issuer. The route itself
// is not touched; Upsert then drops what the new route no longer needs.
//
// When a certificate does not come (the issuer refused it, which Caddy's
// log says at once when IssuerLog is on, or CertificateTimeout passed),
// the TLS app is put back as it was and a *proxy.CertificateError names
// the domain.
func (r *Router) Certify(ctx context.Context, route proxy.Route) error {
	if len(route.Domains) == 0 || !r.Certifies(route) {
		return nil
	}
	if err := r.CheckTLS(route); err != nil {
		return fmt.Errorf("caddy route %q: %w", IDPrefix+route.Workload, err)
	}
	var custom *tlscert.Certificate
	if route.TLS != nil {
		c, _, err := tlscert.Check(route.TLS.CertificatePEM, route.TLS.KeyPEM, route.Domains, time.Now())
		if err != nil {
			return fmt.Errorf("caddy route %q: %w", IDPrefix+route.Workload, err)
		}
		custom = c
	}
	if err := r.checkHTTPPort(ctx); err != nil {
		return err
	}
	// The listeners: the HTTPS one serves the certificate, the HTTP one
	// answers the ACME CA's HTTP-01 challenge.
	if err := r.ensureServer(ctx); err != nil {
		return fmt.Errorf("set up the provider's caddy server: %w", err)
	}
	if first, ok := r.firstOrder(route); ok {
		defer r.account.mu.Unlock()
		before, err := r.certify(ctx, first, nil)
		if err != nil {
			return err
		}
		r.account.ready = true
		if len(route.Domains) == 1 {
			return nil
		}
		if _, err := r.certify(ctx, route, nil); err != nil {
			if uerr := r.putTLSBack(ctx, route.Workload, before); uerr != nil {
				return fmt.Errorf("%w; putting Caddy's TLS app back failed too: %v", err, uerr)
			}
			return err
		}
		return nil
	}
	_, err := r.certify(ctx, route, custom)
	return err
}

// acmeAccount holds a Router's ACME orders back until Caddy has an
// account with the CA. Caddy 2.6's ACME client (certmagic 0.17) registers
// an account for each certificate it starts to obtain while it has none,
// and may store one registration's URL with another's key: every later
// order is then refused with "JWS verification error" (seen here: six
// domains at once made six accounts; caddyserver/certmagic#293 added the
// lock in 2024). So a Router's first ACME order is one domain alone, under
// mu, and the rest follow once Caddy serves it.
type acmeAccount struct {
	mu    sync.Mutex
	ready bool // Caddy served a certificate this Router ordered
}

// firstOrder returns route with its first domain alone, holding the
// account lock, while this Router has not yet had an ACME certificate
// served; ok is false (and the lock free) otherwise.
func (r *Router) firstOrder(route proxy.Route) (first proxy.Route, ok bool) {
	if r.https == nil || r.https.Issuer != IssuerACME || len(automated(route)) == 0 {
		return route, false
	}
	r.account.mu.Lock()
	if r.account.ready {
		r.account.mu.Unlock()
		return route, false
	}
	first = route
	first.Domains = route.Domains[:1]
	return first, true
}

// certify puts route's certificates in Caddy's TLS app and waits until
// Caddy serves them; when they do not come it puts the TLS app back. It
// returns what the route's workload held in the TLS app before.
func (r *Router) certify(ctx context.Context, route proxy.Route, custom *tlscert.Certificate) (owned, error) {
	var wait *issuerWait
	if r.https.IssuerLog && len(automated(route)) > 0 {
		wait = r.listenIssuer(ctx, automated(route))
		defer r.stopListening(wait)
	}
	before, err := r.updateTLS(ctx, []string{route.Workload}, func(app *tlsApp, w string) (owned, error) {
		o, err := r.want(app, w, &route)
		return union(app.owned(w), o), err
	})
	if err != nil {
		return owned{}, fmt.Errorf("put the certificates of caddy route %q: %w", IDPrefix+route.Workload, err)
	}
	start := time.Now()
	if err := r.awaitCertificates(ctx, route, custom, wait); err != nil {
		if uerr := r.putTLSBack(ctx, route.Workload, before[route.Workload]); uerr != nil {
			return owned{}, fmt.Errorf("%w; putting Caddy's TLS app back failed too: %v", err, uerr)
		}
		return owned{}, err
	}
	r.log(ctx, "Caddy serves a certificate for every domain", map[string]any{
		"route": IDPrefix + route.Workload, "domains": route.Domains, "elapsed": time.Since(start).Round(time.Millisecond).String(),
	})
	return before[route.Workload], nil
}

// putTLSBack sets what workload holds in Caddy's TLS app to before, also
// when ctx has ended (a refused or interrupted Certify).
func (r *Router) putTLSBack(ctx context.Context, workload string, before owned) error {
	undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := r.updateTLS(undo, []string{workload}, func(*tlsApp, string) (owned, error) { return before, nil })
	return err
}

// Certifies implements proxy.Certifier: with HTTPS every route gets
// certificates; without, a route that brings one is refused by Certify.
func (r *Router) Certifies(route proxy.Route) bool { return r.https != nil || route.TLS != nil }

// CheckTLS implements proxy.TLSChecker: a certificate of the route's own
// needs the HTTPS listener, and an ACME CA cannot certify a wildcard.
func (r *Router) CheckTLS(route proxy.Route) error {
	if r.https == nil {
		if route.TLS != nil {
			return fmt.Errorf("a certificate of its own needs the provider's https settings (proxy { caddy { https { ... } } }), which make Caddy listen for HTTPS")
		}
		return nil
	}
	return r.https.CheckDomains(automated(route))
}

// awaitCertificates polls a TLS handshake with each domain until Caddy
// serves it a certificate from the right issuer, the issuer's refusal
// arrives, or the time bound passes.
func (r *Router) awaitCertificates(ctx context.Context, route proxy.Route, custom *tlscert.Certificate, wait *issuerWait) error {
	issuer := r.https.issuerName()
	if custom != nil {
		issuer = "the workload's own certificate"
	}
	pending := map[string]string{} // domain -> why it is not served yet
	for _, d := range route.Domains {
		pending[d] = "not asked yet"
	}
	deadline := time.Now().Add(r.https.CertificateTimeout)
	for {
		for _, d := range route.Domains {
			if _, ok := pending[d]; !ok {
				continue
			}
			if reason := wait.failure(d); reason != "" {
				return &proxy.CertificateError{Domain: d, Issuer: issuer, Reason: reason}
			}
			if why := r.served(ctx, d, custom); why != "" {
				pending[d] = why
				continue
			}
			delete(pending, d)
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, d := range route.Domains {
				if why, ok := pending[d]; ok {
					return &proxy.CertificateError{Domain: d, Issuer: issuer,
						Reason: fmt.Sprintf("not served within %s (the wait's bound); the last handshake: %s", r.https.CertificateTimeout, why)}
				}
			}
		}
		var changed <-chan struct{}
		if wait != nil {
			changed = wait.changed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(probeInterval):
		}
	}
}

// served does one TLS handshake with Caddy's HTTPS listener for domain and
// says what is wrong with the certificate it serves, "" when it is the one
// wanted: the route's own (custom), or one for the name that Caddy's
// internal CA issued (issuer internal) or did not (an ACME CA). The
// handshake verifies by hand, since the ACME CA's roots are not known
// here; it sends nothing over the connection.
func (r *Router) served(ctx context.Context, domain string, custom *tlscert.Certificate) string {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := r.dialHTTPS(hctx)
	if err != nil {
		return "connect to Caddy's HTTPS listener " + r.probeAddr + ": " + err.Error()
	}
	defer conn.Close()
	name := probeName(domain)
	tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // verified below, against what this route needs
	if err := tc.HandshakeContext(hctx); err != nil {
		return "TLS handshake for " + name + ": " + err.Error()
	}
	chain := tc.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return "Caddy sent no certificate"
	}
	leaf := chain[0]
	if custom != nil {
		if !bytes.Equal(leaf.Raw, custom.Leaf.Raw) {
			return fmt.Sprintf("Caddy serves another certificate (%s, issued by %s)", strings.Join(leaf.DNSNames, ", "), leaf.Issuer)
		}
		return ""
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return "Caddy serves a certificate for other names: " + err.Error()
	}
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Sprintf("Caddy serves a certificate valid from %s to %s", leaf.NotBefore, leaf.NotAfter)
	}
	internal := r.issuedByInternalCA(ctx, chain)
	switch {
	case r.https.Issuer == IssuerInternal && !internal:
		return fmt.Sprintf("Caddy serves a certificate issued by %s, not by its internal CA", leaf.Issuer)
	case r.https.Issuer == IssuerACME && internal:
		return "Caddy serves a certificate of its internal CA, not one from the ACME CA"
	}
	return ""
}

// issuedByInternalCA reports whether chain verifies against the root of
// Caddy's local CA (admin API /pki/ca/local); false when that CA does not
// answer.
func (r *Router) issuedByInternalCA(ctx context.Context, chain []*x509.Certificate) bool {
	rep, err := r.admin.do(ctx, http.MethodGet, "/pki/ca/local", nil, "")
	if err != nil {
		return false
	}
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if json.Unmarshal(rep.body, &ca) != nil {
		return false
	}
	block, _ := pem.Decode([]byte(ca.Root))
	if block == nil {
		return false
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err == nil
}

// dialHTTPS connects to Caddy's HTTPS listener.
func (r *Router) dialHTTPS(ctx context.Context) (net.Conn, error) {
	if r.dial != nil {
		return r.dial(ctx, "tcp", r.probeAddr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", r.probeAddr)
}

// probeAddress is where Caddy's HTTPS listener is reached from here: the
// listen address's host when it names one, else the admin API's host.
func probeAddress(adminHost, httpsListen string, port int) string {
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(httpsListen, "tcp/"))
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = adminHost
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// checkHTTPPort refuses, once, a Caddy whose http_port is not the port of
// the HTTP listen address: Caddy serves TLS on every port of a server but
// its http app's http_port, so the HTTP address would speak TLS.
func (r *Router) checkHTTPPort(ctx context.Context) error {
	r.httpPortMu.Lock()
	defer r.httpPortMu.Unlock()
	if r.httpPortOK {
		return nil
	}
	var port int
	err := r.retries.Do(ctx, func(ctx context.Context) error {
		body, _, err := r.readConfig(ctx, "/config/apps/http/http_port")
		if err != nil {
			return err
		}
		port = 80
		if string(body) != "null" {
			if err := json.Unmarshal(body, &port); err != nil {
				return retry.Stop(fmt.Errorf("decode Caddy's apps.http.http_port: %w", err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read Caddy's http_port: %w", err)
	}
	if port != r.httpPort {
		return fmt.Errorf("caddy listen[0] %q is the HTTP address, but Caddy's http_port (apps.http.http_port) is %d: Caddy serves TLS on every port but that one, so the address would speak TLS; set http_port to %d in Caddy's config (the provider does not change Caddy's settings outside its server), or listen on port %d",
			r.listen[0], port, r.httpPort, port)
	}
	r.httpPortOK = true
	return nil
}
