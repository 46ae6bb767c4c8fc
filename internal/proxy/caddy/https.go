package caddy

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// Issuers of HTTPS.Issuer: where Caddy gets a certificate for a domain that
// brings none of its own.
const (
	// IssuerACME is an ACME CA (Let's Encrypt unless ACMECA says
	// otherwise), which validates each domain by HTTP-01 on port 80.
	IssuerACME = "acme"
	// IssuerInternal is Caddy's own local CA: for private names and local
	// use, trusted by no browser until its root is installed.
	IssuerInternal = "internal"
)

// Issuers lists the accepted HTTPS.Issuer values, for validators and docs.
var Issuers = []string{IssuerACME, IssuerInternal}

// DefaultACMECA is Let's Encrypt's production directory.
const DefaultACMECA = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultHTTPSListen is where the provider's server listens with HTTPS:
// the first address serves HTTP (the redirect and the ACME challenge), the
// second HTTPS.
var DefaultHTTPSListen = []string{":80", ":443"}

// DefaultCertificateTimeout bounds how long Certify waits for a new
// domain's certificate: an ACME CA validates a domain in seconds, and a
// refusal reaches the provider at once through Caddy's log.
const DefaultCertificateTimeout = 3 * time.Minute

// HTTPS is how the provider's server serves HTTPS.
type HTTPS struct {
	// Issuer is IssuerACME (default) or IssuerInternal.
	Issuer string
	// ACMECA is the ACME directory URL; default DefaultACMECA.
	ACMECA string
	// ACMECARootPEM is the root certificate (PEM) of a private ACME CA, as
	// the user gave it. Whoever assembles the Router writes it where Caddy
	// reads it (WriteRootFile) and sets ACMECARootFile.
	ACMECARootPEM string
	// ACMECARootFile is a file on Caddy's machine holding the root
	// certificate (PEM) that Caddy's ACME client trusts for ACMECA, for a
	// private CA: Caddy 2.6 takes such a root from a file only. The caller
	// writes it (WriteRootFile).
	ACMECARootFile string
	// Email is the ACME account's contact; optional.
	Email string
	// RedirectHTTP answers HTTP with a 308 to HTTPS, except the ACME
	// challenge path.
	RedirectHTTP bool
	// IssuerLog receives Caddy's certificate log lines over UDP on
	// 127.0.0.1, so that a refused certificate fails at once with the
	// issuer's reason: for a Caddy on this machine only. Without it a
	// refusal fails when CertificateTimeout passes.
	IssuerLog bool
	// CertificateTimeout bounds the wait for a certificate; default
	// DefaultCertificateTimeout.
	CertificateTimeout time.Duration
}

// check validates h and the server's listen addresses with it, and
// returns the HTTPS listener's port.
func (h *HTTPS) check(listen []string) (httpsPort int, err error) {
	switch h.Issuer {
	case "":
		h.Issuer = IssuerACME
	case IssuerACME, IssuerInternal:
	default:
		return 0, fmt.Errorf("caddy https issuer %q: want one of %s", h.Issuer, strings.Join(Issuers, ", "))
	}
	if h.Issuer == IssuerACME {
		if h.ACMECA == "" {
			h.ACMECA = DefaultACMECA
		}
		if u, err := url.Parse(h.ACMECA); err != nil || u.Scheme != "https" || u.Host == "" {
			return 0, fmt.Errorf("caddy https acme_ca %q: want the https:// URL of an ACME directory", h.ACMECA)
		}
	}
	if h.ACMECARootPEM != "" && h.ACMECARootFile == "" {
		return 0, fmt.Errorf("caddy https acme_ca_root_pem: Caddy reads the root from a file, which is not written (WriteRootFile)")
	}
	if h.CertificateTimeout <= 0 {
		h.CertificateTimeout = DefaultCertificateTimeout
	}
	if len(listen) != 2 {
		return 0, fmt.Errorf("caddy listen %q: with https, give two addresses, the HTTP one first and the HTTPS one second (default %q)", listen, DefaultHTTPSListen)
	}
	ports := make([]int, 2)
	for i, l := range listen {
		if ports[i], err = listenPort(l); err != nil {
			return 0, fmt.Errorf("caddy listen[%d] %q: %w", i, l, err)
		}
	}
	if ports[0] == ports[1] {
		return 0, fmt.Errorf("caddy listen %q: the HTTP and HTTPS addresses need two ports", listen)
	}
	return ports[1], nil
}

// listenPort is the port of a Caddy listener address ("host:port",
// ":port"; a range is refused).
func listenPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp/"))
	if err != nil {
		return 0, fmt.Errorf("want host:port or :port")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("want one port between 1 and 65535")
	}
	return p, nil
}

// issuerName is where certificates come from, for messages.
func (h *HTTPS) issuerName() string {
	if h.Issuer == IssuerInternal {
		return "Caddy's internal CA"
	}
	return "the ACME CA at " + h.ACMECA
}

// issuer is the issuer module of the provider's automation policies. Only
// HTTP-01 is left on: TLS-ALPN-01 needs the HTTPS listener on port 443 as
// the CA sees it, and trying it first costs a failed validation when it
// is not.
func (h *HTTPS) issuer() map[string]any {
	if h.Issuer == IssuerInternal {
		return map[string]any{"module": "internal"}
	}
	iss := map[string]any{
		"module":     "acme",
		"ca":         h.ACMECA,
		"challenges": map[string]any{"tls-alpn": map[string]any{"disabled": true}},
	}
	if h.Email != "" {
		iss["email"] = h.Email
	}
	if h.ACMECARootFile != "" {
		iss["trusted_roots_pem_files"] = []string{h.ACMECARootFile}
	}
	return iss
}

// CheckDomains refuses domains this issuer cannot certify: an ACME CA
// validates a wildcard only by DNS-01, which the provider does not set up.
// It is the one rule for plan time and deploy time.
func (h *HTTPS) CheckDomains(domains []string) error {
	if h.Issuer == IssuerInternal {
		return nil
	}
	for _, d := range domains {
		if strings.HasPrefix(d, "*.") {
			return fmt.Errorf("domain %q: an ACME CA certifies a wildcard only through DNS-01, which the provider does not set up; give the workload a certificate of its own (tls), or use issuer = \"internal\"", d)
		}
	}
	return nil
}

// redirectID is the @id of the server's HTTP-to-HTTPS route. It does not
// start with IDPrefix, so it is never read as a workload's route.
func (r *Router) redirectID() string { return "tinyforge." + r.serverName + ".redirect" }

// redirectRoute answers every HTTP request but an ACME challenge with a
// 308 to the same URL over HTTPS. One Caddy server listening on both ports
// adds no such redirect by itself.
func (r *Router) redirectRoute() json.RawMessage {
	host := "{http.request.host}"
	if r.httpsPort != 443 {
		host += ":" + strconv.Itoa(r.httpsPort)
	}
	b, _ := json.Marshal(map[string]any{
		"@id": r.redirectID(),
		"match": []any{map[string]any{
			"protocol": "http",
			"not":      []any{map[string]any{"path": []string{"/.well-known/acme-challenge/*"}}},
		}},
		"handle": []any{map[string]any{
			"handler":     "static_response",
			"status_code": 308,
			"headers":     map[string][]string{"Location": {"https://" + host + "{http.request.uri}"}},
		}},
		"terminal": true,
	})
	return b
}

// probeName is a name a TLS client asks for to reach domain's certificate:
// the domain, or a name under a wildcard.
func probeName(domain string) string {
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		return "tinyforge-probe." + rest
	}
	return domain
}

// automated are the domains of route that Caddy gets certificates for:
// all of them, unless the route brings its own certificate.
func automated(route proxy.Route) []string {
	if route.TLS != nil {
		return nil
	}
	return route.Domains
}

// WriteRootFile writes an ACME CA's root certificate (PEM, public) where a
// Caddy on this machine reads it, dir/acme-ca-root-<sha256>.pem, readable
// by every user (Caddy runs as its own), and returns the path. The name
// comes from the content: the same root is the same file, and a changed
// root a new file, so a Caddy that resumes an older config still finds
// the file it names.
func WriteRootFile(dir, rootPEM string) (string, error) {
	block, _ := pem.Decode([]byte(rootPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("acme_ca_root_pem holds no PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", fmt.Errorf("acme_ca_root_pem: %w", err)
	}
	sum := sha256.Sum256([]byte(rootPEM))
	path := filepath.Join(dir, "acme-ca-root-"+hex.EncodeToString(sum[:8])+".pem")
	if have, err := os.ReadFile(path); err == nil && string(have) == rootPEM {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write the ACME CA's root for Caddy: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".acme-ca-root-*")
	if err != nil {
		return "", fmt.Errorf("write the ACME CA's root for Caddy: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(rootPEM)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("write the ACME CA's root for Caddy: %w", err)
	}
	return path, nil
}
