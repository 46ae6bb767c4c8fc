package npm

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// A route's certificate in NPM (paths/nginx/certificates): a custom one is
// created empty (provider "other") and filled by an upload of its files;
// a Let's Encrypt one is issued by NPM's certbot inside the create call,
// over HTTP-01 through NPM's nginx. The provider makes one per route,
// records its id in the route's proxy host (certificateKey) and deletes it
// with the route, or when a new one replaces it; a certificate it did not
// make (the user's, attached by hand) is never deleted. A rotation is a
// new certificate and an update of the host's certificate_id, which makes
// NPM reload nginx with it: uploading into the same certificate would
// change its files without a reload.

// letsEncrypt names the issuer in a *proxy.CertificateError.
const letsEncrypt = "Let's Encrypt, through Nginx Proxy Manager's certbot"

// customName is the nice_name of a custom certificate the provider
// uploaded: the workload, and the leaf's fingerprint, which tells a
// certificate in NPM apart from a rotated one and is what Routes reads
// back.
func customName(workload, fingerprint string) string {
	return "tinyforge " + workload + " " + fingerprint
}

// customFingerprint reads the fingerprint back from a custom
// certificate's nice_name; "" when it is not the workload's.
func customFingerprint(workload string, c certificateObject) string {
	fp, ok := strings.CutPrefix(c.NiceName, "tinyforge "+workload+" ")
	if !ok || c.Provider != "other" || len(fp) != 64 {
		return ""
	}
	return fp
}

// wantCertificate says which certificate the route needs: want == nil is
// none (plain HTTP), else a custom certificate (want.TLS) or a Let's
// Encrypt one for the route's domains.
type wantCertificate struct {
	custom      *proxy.TLS
	fingerprint string
	domains     []string
}

func (r *Router) wantCertificate(route proxy.Route) *wantCertificate {
	switch {
	case route.TLS != nil:
		return &wantCertificate{custom: route.TLS, fingerprint: tlscert.Fingerprint(route.TLS.CertificatePEM), domains: route.Domains}
	case r.letsEncrypt:
		return &wantCertificate{domains: route.Domains}
	}
	return nil
}

// CheckTLS implements proxy.TLSChecker: certbot validates over HTTP-01,
// which cannot certify a wildcard.
func (r *Router) CheckTLS(route proxy.Route) error {
	if route.TLS != nil || !r.letsEncrypt {
		return nil
	}
	for _, d := range route.Domains {
		if strings.HasPrefix(d, "*.") {
			return fmt.Errorf("domain %q: NPM's Let's Encrypt certificates are validated over HTTP-01, which cannot certify a wildcard; give the workload a certificate of its own (tls)", d)
		}
	}
	return nil
}

// fits reports whether c is the certificate want asks for.
func (w *wantCertificate) fits(workload string, c certificateObject) bool {
	if w.custom != nil {
		return c.Provider == "other" && c.NiceName == customName(workload, w.fingerprint)
	}
	return c.Provider == "letsencrypt" && proxy.SameHosts(c.DomainNames, w.domains)
}

// certificateFor returns the id of the certificate the route's host should
// carry (0: none), reusing the one the provider made for the host when it
// still fits, else making a new one (made: the caller deletes it if the
// host's write fails).
func (r *Router) certificateFor(ctx context.Context, route proxy.Route, own *proxyHost) (id int, made bool, err error) {
	want := r.wantCertificate(route)
	if want == nil {
		return 0, false, nil
	}
	if own != nil && own.Meta.Certificate > 0 && int(own.CertificateID) == own.Meta.Certificate {
		c, found, err := r.getCertificate(ctx, own.Meta.Certificate)
		if err != nil {
			return 0, false, err
		}
		if found && want.fits(route.Workload, c) {
			return c.ID, false, nil
		}
	}
	if want.custom != nil {
		id, err = r.uploadCertificate(ctx, route.Workload, want)
	} else {
		id, err = r.requestLetsEncrypt(ctx, route)
	}
	return id, err == nil, err
}

// uploadCertificate makes a custom certificate: create, then upload the
// leaf, its chain and its key as files. A failed upload deletes what the
// create made. Errors never carry the key (the answer to an upload echoes
// it, and is not read).
func (r *Router) uploadCertificate(ctx context.Context, workload string, want *wantCertificate) (int, error) {
	cert, err := tlscert.Parse(want.custom.CertificatePEM)
	if err != nil {
		return 0, fmt.Errorf("certificate of workload %q: %w", workload, err)
	}
	var c certificateObject
	if err := r.api.call(ctx, http.MethodPost, "/nginx/certificates", certificateBody{
		Provider: "other", NiceName: customName(workload, want.fingerprint),
	}, &c); err != nil {
		return 0, fmt.Errorf("create the certificate of workload %q in NPM: %w", workload, err)
	}
	files := multipartFiles{"certificate": pemOf(cert.Leaf.Raw), "certificate_key": want.custom.KeyPEM}
	if len(cert.Chain) > 0 {
		var chain strings.Builder
		for _, c := range cert.Chain {
			chain.WriteString(pemOf(c.Raw))
		}
		files["intermediate_certificate"] = chain.String()
	}
	if err := r.api.call(ctx, http.MethodPost, fmt.Sprintf("/nginx/certificates/%d/upload", c.ID), files, nil); err != nil {
		err = fmt.Errorf("upload the certificate of workload %q to NPM (certificate %d): %w", workload, c.ID, err)
		undo, cancel := cleanupContext(ctx)
		defer cancel()
		if derr := r.deleteCertificate(undo, c.ID); derr != nil {
			return 0, fmt.Errorf("%w; deleting the empty certificate failed too: %v", err, derr)
		}
		return 0, err
	}
	r.log(ctx, "NPM certificate uploaded", map[string]any{"workload": workload, "certificate": c.ID, "names": cert.Names()})
	return c.ID, nil
}

// requestLetsEncrypt asks NPM for a Let's Encrypt certificate of the
// route's domains; NPM runs certbot before it answers (seconds, more for
// many names). A refusal names the domain and carries certbot's report.
func (r *Router) requestLetsEncrypt(ctx context.Context, route proxy.Route) (int, error) {
	r.log(ctx, "asking NPM for a Let's Encrypt certificate", map[string]any{"workload": route.Workload, "domains": route.Domains})
	var c certificateObject
	err := r.api.call(ctx, http.MethodPost, "/nginx/certificates", certificateBody{
		Provider: "letsencrypt", DomainNames: route.Domains, Meta: map[string]any{"dns_challenge": false},
	}, &c)
	if err == nil {
		r.log(ctx, "NPM obtained a Let's Encrypt certificate", map[string]any{"workload": route.Workload, "certificate": c.ID})
		return c.ID, nil
	}
	if out := outputOf(err); out != "" {
		return 0, &proxy.CertificateError{Domain: refusedDomain(out, route.Domains), Issuer: letsEncrypt, Reason: out}
	}
	return 0, fmt.Errorf("ask NPM for a Let's Encrypt certificate of %v: %w", route.Domains, err)
}

// refusedDomain is the first "Domain: x" certbot reports, when x is one of
// domains; else the first of domains.
func refusedDomain(output string, domains []string) string {
	if m := certbotDomain.FindStringSubmatch(output); m != nil && slices.Contains(domains, m[1]) {
		return m[1]
	}
	return domains[0]
}

var certbotDomain = regexp.MustCompile(`(?m)^\s*Domain:\s*(\S+)`)

// outputOf is a command's output NPM answered with, "" for any other error.
func outputOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.output
	}
	return ""
}

// getCertificate reads one certificate; found is false when NPM has none
// of that id.
func (r *Router) getCertificate(ctx context.Context, id int) (c certificateObject, found bool, err error) {
	err = r.read(ctx, fmt.Sprintf("/nginx/certificates/%d", id), &c)
	if statusOf(err) == http.StatusNotFound {
		return c, false, nil
	}
	return c, err == nil, err
}

// deleteCertificate deletes a certificate the provider made; one gone
// already is not an error.
func (r *Router) deleteCertificate(ctx context.Context, id int) error {
	return r.retries.Do(ctx, func(ctx context.Context) error {
		err := r.api.call(ctx, http.MethodDelete, fmt.Sprintf("/nginx/certificates/%d", id), nil, nil)
		if statusOf(err) == http.StatusNotFound {
			return nil
		}
		return err
	})
}

// certificatesOf reads, in one call, the certificates the provider made
// for hosts, by id; no call when it made none.
func (r *Router) certificatesOf(ctx context.Context, hosts []proxyHost) (map[int]certificateObject, error) {
	out := map[int]certificateObject{}
	if !slices.ContainsFunc(hosts, func(h proxyHost) bool { return h.Meta.Workload != "" && h.Meta.Certificate > 0 }) {
		return out, nil
	}
	var all []certificateObject
	if err := r.read(ctx, "/nginx/certificates", &all); err != nil {
		return nil, err
	}
	for _, c := range all {
		out[c.ID] = c
	}
	return out, nil
}

// retire deletes the certificate the provider made for a host, once the
// host no longer carries it, unless another host does (a user attached it
// by hand): then it is left, and said so.
func (r *Router) retire(ctx context.Context, workload string, id int) {
	if id == 0 {
		return
	}
	hosts, err := r.list(ctx)
	if err == nil {
		for _, h := range hosts {
			if int(h.CertificateID) == id {
				r.log(ctx, "NPM certificate kept: another proxy host carries it", map[string]any{"workload": workload, "certificate": id, "proxy_host": h.ID})
				return
			}
		}
		err = r.deleteCertificate(ctx, id)
	}
	if err != nil {
		r.log(ctx, "NPM certificate not deleted", map[string]any{"workload": workload, "certificate": id, "error": err.Error()})
		return
	}
	r.log(ctx, "NPM certificate deleted", map[string]any{"workload": workload, "certificate": id})
}

func pemOf(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
