package npm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// servedOverHTTPS asks the stand-in's nginx for host over HTTPS, trusting
// only roots, and returns the leaf it served and the body.
func servedOverHTTPS(t *testing.T, s *npmstandin.Server, roots *x509.CertPool, host string) (*x509.Certificate, string) {
	t.Helper()
	u, _ := url.Parse(s.HTTPSURL)
	var leaf *x509.Certificate
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		client := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, u.Host)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots},
		}}
		var resp *http.Response
		if resp, err = client.Get("https://" + host + "/"); err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		leaf, body = resp.TLS.PeerCertificates[0], string(b)
		break
	}
	if err != nil {
		t.Fatalf("GET https://%s/ through NPM: %v", host, err)
	}
	return leaf, body
}

// certificateRequests lists the certificate writes NPM answered.
func (f *fixture) certificateRequests() []string {
	var out []string
	for _, r := range f.npm.Requests() {
		if strings.HasPrefix(r.Path, "/api/nginx/certificates") && r.Method != http.MethodGet {
			out = append(out, r.String())
		}
	}
	return out
}

// TestCustomCertificate: a route's own certificate is uploaded as NPM's
// documented files (provider "other", then the upload), attached with
// ssl_forced and http2_support, and served; a swap and a repeat touch no
// certificate; a rotation attaches a new one and deletes the old; delete
// removes the route's certificate and never one the provider did not
// make; the key is in no log, error or recorded request.
func TestCustomCertificate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	ca := acctest.MustTestCA(t, "npm custom certificate CA")
	d := domain("shop")
	first := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{d}})
	second := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{d}})
	blue, green := app(t, "blue"), app(t, "green")
	route := func(up string, leaf acctest.Leaf) proxy.Route {
		return proxy.Route{Workload: "shop", Domains: []string{d}, Upstreams: []string{up},
			TLS: &proxy.TLS{CertificatePEM: leaf.CertPEM + ca.CertPEM, KeyPEM: leaf.KeyPEM}}
	}
	// A certificate of the user's, on a host of the user's.
	userCert := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"user.example.test"}})
	userID := f.npm.SeedCertificate("the user's", userCert.CertPEM, userCert.KeyPEM)

	if err := f.router.Upsert(ctx, route(blue, first)); err != nil {
		t.Fatalf("create: %v", err)
	}
	certs := f.npm.Certificates()
	if len(certs) != 2 || certs[1].Provider != "other" || certs[1].NiceName != "tinyforge shop "+tlscert.Fingerprint(first.CertPEM) {
		t.Fatalf("certificates %+v, want the user's and one uploaded for shop", certs)
	}
	ours := certs[1].ID
	h := f.npm.Hosts()[0]
	if h.CertificateID != ours || !h.SSLForced || !h.HTTP2Support || fmt.Sprint(h.Meta[certificateKey]) != strconv.Itoa(ours) {
		t.Fatalf("host %+v, want certificate %d attached, ssl_forced, http2_support and recorded in meta", h, ours)
	}
	if leaf, body := servedOverHTTPS(t, f.npm, ca.Pool(), d); !leaf.Equal(first.Cert) || body != "blue" {
		t.Fatalf("NPM served %v %q over HTTPS, want the route's certificate and blue", leaf.Subject, body)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(
		&http.Request{Method: http.MethodGet, URL: mustURL(f.npm.HTTPURL + "/x"), Host: d})
	if err != nil || resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://"+d+"/x" {
		t.Fatalf("HTTP answer %v %v, want 301 to https://%s/x", resp, err, d)
	}
	routes, err := f.router.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].TLS == nil || !proxy.SameCertificate(routes[0].TLS, &proxy.TLS{CertificatePEM: first.CertPEM}) {
		t.Fatalf("Routes = %+v (%v), want the route with its certificate's fingerprint", routes, err)
	}

	before := len(f.certificateRequests())
	if err := f.router.Upsert(ctx, route(blue, first)); err != nil {
		t.Fatal(err)
	}
	if err := f.router.Upsert(ctx, route(green, first)); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if got := f.certificateRequests()[before:]; len(got) != 0 {
		t.Fatalf("a repeat and a swap wrote certificates: %v", got)
	}

	if err := f.router.Upsert(ctx, route(green, second)); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	// nginx serves it once NPM's reload is done.
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "after the rotation NPM does not serve the new certificate", func() bool {
		leaf, _ := servedOverHTTPS(t, f.npm, ca.Pool(), d)
		return leaf.Equal(second.Cert)
	})
	certs = f.npm.Certificates()
	if len(certs) != 2 || certs[0].ID != userID || certs[1].NiceName != "tinyforge shop "+tlscert.Fingerprint(second.CertPEM) {
		t.Fatalf("after the rotation: %+v, want the user's and the new one (the old deleted)", certs)
	}

	if err := f.router.Delete(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if certs := f.npm.Certificates(); len(certs) != 1 || certs[0].ID != userID {
		t.Fatalf("after delete: %+v, want only the user's certificate", certs)
	}
	for _, line := range append(f.logs, strings.Join(func() []string {
		var out []string
		for _, r := range f.npm.Requests() {
			out = append(out, r.Body)
		}
		return out
	}(), "\n")) {
		for _, key := range []string{first.KeyPEM, second.KeyPEM} {
			if strings.Contains(line, key[40:80]) {
				t.Fatalf("a private key leaked: %s", line)
			}
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestLetsEncryptPerRoute: with LetsEncrypt, NPM is asked for a
// certificate of the route's domains before its host is written; a refusal
// fails the Upsert naming the domain with certbot's report, creates no
// host and keeps an existing one as it was; a domain change gets a new
// certificate and the old one is deleted.
func TestLetsEncryptPerRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config, _ *npmstandin.Server) { c.LetsEncrypt = true })
	ctx := context.Background()
	blue := app(t, "blue")
	d1, d2, refused := domain("web"), domain("www"), domain("nodns")
	f.npm.RefuseLetsEncrypt(refused, "DNS problem: NXDOMAIN looking up A for "+refused)

	if err := f.router.Upsert(ctx, proxy.Route{Workload: "web", Domains: []string{d1}, Upstreams: []string{blue}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	leaf, body := servedOverHTTPS(t, f.npm, f.npm.LetsEncryptRoot(), d1)
	if leaf.VerifyHostname(d1) != nil || body != "blue" {
		t.Fatalf("NPM served %v %q, want a Let's Encrypt certificate for %s and blue", leaf.DNSNames, body, d1)
	}
	first := f.npm.Hosts()[0].CertificateID

	err := f.router.Upsert(ctx, proxy.Route{Workload: "web", Domains: []string{d1, refused}, Upstreams: []string{blue}})
	var certErr *proxy.CertificateError
	if !errors.As(err, &certErr) || certErr.Domain != refused || !strings.Contains(certErr.Reason, "NXDOMAIN looking up A for "+refused) {
		t.Fatalf("Upsert with a refused domain = %v, want a CertificateError for %s with certbot's detail", err, refused)
	}
	if h := f.npm.Hosts()[0]; h.CertificateID != first || strings.Join(h.DomainNames, ",") != d1 {
		t.Fatalf("a refused certificate changed the host: %+v", h)
	}
	err = f.router.Upsert(ctx, proxy.Route{Workload: "other", Domains: []string{refused}, Upstreams: []string{blue}})
	if !errors.As(err, &certErr) || len(f.npm.Hosts()) != 1 {
		t.Fatalf("a new route with a refused domain = %v, hosts %+v", err, f.npm.Hosts())
	}

	if err := f.router.Upsert(ctx, proxy.Route{Workload: "web", Domains: []string{d1, d2}, Upstreams: []string{blue}}); err != nil {
		t.Fatalf("add a domain: %v", err)
	}
	certs := f.npm.Certificates()
	if len(certs) != 1 || certs[0].ID == first || strings.Join(certs[0].DomainNames, ",") != strings.Join(sortedPair(d1, d2), ",") {
		t.Fatalf("after a domain change: %+v, want one new certificate for both domains", certs)
	}
	if err := f.router.Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if certs := f.npm.Certificates(); len(certs) != 0 {
		t.Fatalf("after delete: %+v", certs)
	}
}

func sortedPair(a, b string) []string {
	if a < b {
		return []string{a, b}
	}
	return []string{b, a}
}

// TestLetsEncryptEmailIsTheAccounts: NPM registers with its user's email.
func TestLetsEncryptEmailIsTheAccounts(t *testing.T) {
	_, err := New(Config{URL: "http://127.0.0.1:81", Email: email, Password: "x", LetsEncrypt: true, LetsEncryptEmail: "other@example.test"})
	if err == nil || !strings.Contains(err.Error(), `https email "other@example.test"`) {
		t.Fatalf("New = %v", err)
	}
	if _, err := New(Config{URL: "http://127.0.0.1:81", Email: email, Password: "x", LetsEncrypt: true, LetsEncryptEmail: strings.ToUpper(email)}); err != nil {
		t.Fatal(err)
	}
}

// attachByHand sets a host's certificate_id through NPM's API, as someone
// in NPM's UI would.
func (f *fixture) attachByHand(t *testing.T, hostID, certificateID int) {
	t.Helper()
	login, _ := json.Marshal(map[string]string{"identity": email, "secret": f.password})
	resp, err := http.Post(f.npm.URL+"/api/tokens", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	var token struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&token)
	resp.Body.Close()
	if err != nil || token.Token == "" {
		t.Fatalf("log in to NPM: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"certificate_id": certificateID})
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/nginx/proxy-hosts/%d", f.npm.URL, hostID), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token.Token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("attach certificate %d to host %d by hand: %v %v", certificateID, hostID, resp, err)
	}
	resp.Body.Close()
}

// TestACertificateAttachedByHandIsNeverDeleted: a certificate the provider
// did not make, attached by hand to a workload's proxy host, reads as no
// certificate of the route's own in Routes (so the plan shows the change); the next Upsert puts a certificate of the
// provider's back (deleting only the provider's old one), and Delete
// deletes the provider's: the user's stays.
func TestACertificateAttachedByHandIsNeverDeleted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	ca := acctest.MustTestCA(t, "npm hand-attached CA")
	d := domain("hand")
	leaf := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{d}})
	userCert := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{d}})
	userID := f.npm.SeedCertificate("the user's", userCert.CertPEM, userCert.KeyPEM)
	route := proxy.Route{Workload: "hand", Domains: []string{d}, Upstreams: []string{app(t, "hand")},
		TLS: &proxy.TLS{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatal(err)
	}
	host := f.npm.Hosts()[0]
	f.attachByHand(t, host.ID, userID)

	routes, err := f.router.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].TLS != nil {
		t.Fatalf("Routes = %+v (%v), want the route without a certificate of its own", routes, err)
	}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatal(err)
	}
	if h := f.npm.Hosts()[0]; h.CertificateID == userID || h.CertificateID == 0 {
		t.Fatalf("after the Upsert the host carries certificate %d, want one of the provider's", h.CertificateID)
	}
	// nginx serves the user's certificate until NPM's reload is done.
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "after the Upsert NPM does not serve the workload's certificate", func() bool {
		served, _ := servedOverHTTPS(t, f.npm, ca.Pool(), d)
		return served.Equal(leaf.Cert)
	})
	if err := f.router.Delete(ctx, "hand"); err != nil {
		t.Fatal(err)
	}
	if certs := f.npm.Certificates(); len(certs) != 1 || certs[0].ID != userID {
		t.Fatalf("after delete NPM holds %+v, want only the user's certificate", certs)
	}
}
