package caddy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
)

// acmeCaddy is a Caddy whose certificates come from a real Pebble, which
// validates HTTP-01 against that Caddy's HTTP port: shared by the subtests
// of a test.
type acmeCaddy struct {
	caddy  *acctest.Caddy
	pebble *acctest.Pebble
	https  caddy.HTTPS
	logs   *logSink
}

func startACMECaddy(t *testing.T) *acmeCaddy {
	t.Helper()
	c := acctest.StartPersistentCaddy(t, acctest.HTTPSConfig)
	p := acctest.StartPebble(t, c.HTTPPort, acctest.StartDNS(t))
	root := filepath.Join(t.TempDir(), "pebble-directory-root.pem")
	if err := os.WriteFile(root, []byte(p.DirectoryCAPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return &acmeCaddy{caddy: c, pebble: p, logs: &logSink{}, https: caddy.HTTPS{
		Issuer: caddy.IssuerACME, ACMECA: p.DirectoryURL, ACMECARootFile: root, Email: "ops@example.test",
		RedirectHTTP: true, IssuerLog: true, CertificateTimeout: 30 * time.Second,
	}}
}

func (a *acmeCaddy) router(t *testing.T, https caddy.HTTPS) *caddy.Router {
	t.Helper()
	r, err := caddy.New(caddy.Config{AdminURL: a.caddy.AdminURL, Listen: a.caddy.HTTPSListen(), HTTPS: &https, Log: a.logs.log})
	if err != nil {
		t.Fatalf("caddy.New: %v", err)
	}
	return r
}

// logSink keeps what a Router logs, to check no key reaches it.
type logSink struct{ lines []string }

func (l *logSink) log(_ context.Context, msg string, fields map[string]any) {
	b, _ := json.Marshal(fields)
	l.lines = append(l.lines, msg+" "+string(b))
}

// getHTTPS fails the test unless GET https://host/ through Caddy, trusting
// only roots, answers 200 body.
func getHTTPS(t *testing.T, c *acctest.Caddy, roots *x509.CertPool, host, body string) {
	t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var resp *http.Response
		if resp, err = c.HTTPSClient(roots).Get("https://" + host + "/"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = string(b)
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		if (err == nil && got == body) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || got != body {
		t.Fatalf("GET https://%s/ = %q (%v), want %q\ncaddy log:\n%s", host, got, err, body, c.Log())
	}
}

// TestACMEFirstOrderRegistersOneAccount: a fresh Caddy asked for six
// certificates at once registers one ACME account, not one per
// certificate (Caddy 2.6's ACME client registers one for each obtain that
// starts while it has none, and may keep one registration's URL with
// another's key: every later order then fails with "JWS verification
// error"). A later order for a new domain succeeds.
func TestACMEFirstOrderRegistersOneAccount(t *testing.T) {
	t.Parallel()
	a := startACMECaddy(t)
	r := a.router(t, a.https)
	ctx := context.Background()
	var domains []string
	for i := range 6 {
		domains = append(domains, fmt.Sprintf("d%d.example.test", i))
	}
	if err := r.Certify(ctx, proxy.Route{Workload: "many", Domains: domains, Upstreams: []string{backend(t, "many")}}); err != nil {
		t.Fatalf("Certify of six domains: %v\npebble log:\n%s", err, a.pebble.Log())
	}
	if err := r.Certify(ctx, proxy.Route{Workload: "later", Domains: []string{"later.example.test"}, Upstreams: []string{backend(t, "later")}}); err != nil {
		t.Fatalf("a later order: %v\npebble log:\n%s", err, a.pebble.Log())
	}
	if n := a.pebble.Accounts(); n != 1 {
		t.Fatalf("Pebble registered %d ACME accounts, want 1", n)
	}
}

// TestHTTPSCertificateFromACME: Certify gets a certificate from Pebble over
// a real HTTP-01 validation of the provider's Caddy, before the route
// exists; the route then serves HTTPS with it (verified against Pebble's
// roots only), HTTP answers 308 to HTTPS except the challenge path, a
// swap touches no certificate, and delete removes every TLS entry. A
// refused domain fails Certify at once with Pebble's reason, naming it,
// and leaves Caddy's TLS app as it was; a wildcard is refused for ACME.
func TestHTTPSCertificateFromACME(t *testing.T) {
	t.Parallel()
	a := startACMECaddy(t)
	c := a.caddy
	r := a.router(t, a.https)
	ctx := context.Background()
	blue, green := backend(t, "blue"), backend(t, "green")
	route := proxy.Route{Workload: "web", Domains: []string{"web.example.test", "www.example.test"}, Upstreams: []string{blue}}

	start := time.Now()
	if err := r.Certify(ctx, route); err != nil {
		t.Fatalf("Certify: %v\ncaddy log:\n%s\npebble log:\n%s", err, c.Log(), a.pebble.Log())
	}
	t.Logf("two certificates issued by Pebble over HTTP-01 in %s", time.Since(start).Round(time.Millisecond))
	upsert(t, r, route)
	roots := a.pebble.Roots(t)
	getHTTPS(t, c, roots, "web.example.test", "blue")
	getHTTPS(t, c, roots, "www.example.test", "blue")
	leaf, err := c.ServedCertificate("web.example.test", roots)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("HTTP redirects to HTTPS, except the ACME challenge", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, c.HTTPURL+"/a/b?c=d", nil)
		req.Host = "web.example.test"
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "https://web.example.test:" + strconv.Itoa(c.HTTPSPort) + "/a/b?c=d"
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("HTTP answer = %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		status, _ := c.Get(t, "web.example.test", "/.well-known/acme-challenge/nothing-pending")
		if status == http.StatusPermanentRedirect {
			t.Fatal("the ACME challenge path is redirected too")
		}
	})

	t.Run("a swap touches no certificate", func(t *testing.T) {
		tlsBefore := c.AdminGet(t, "/config/apps/tls")
		calls := r.Calls()
		if err := r.Certify(ctx, proxy.Route{Workload: "web", Domains: route.Domains, Upstreams: []string{green}}); err != nil {
			t.Fatal(err)
		}
		upsert(t, r, proxy.Route{Workload: "web", Domains: route.Domains, Upstreams: []string{green}})
		getHTTPS(t, c, roots, "web.example.test", "green")
		if got := c.AdminGet(t, "/config/apps/tls"); got != tlsBefore {
			t.Fatalf("the swap changed Caddy's TLS app:\nbefore %s\nafter  %s", tlsBefore, got)
		}
		if d := r.Calls(); d.Loads-calls.Loads != 1 {
			t.Fatalf("the swap made %d config loads, want 1 (the route)", d.Loads-calls.Loads)
		}
		again, err := c.ServedCertificate("web.example.test", roots)
		if err != nil || !again.Equal(leaf) {
			t.Fatalf("after the swap Caddy serves another certificate (%v)", err)
		}
	})

	t.Run("a refused domain fails Certify with the issuer's reason", func(t *testing.T) {
		a.pebble.DNS.Refuse("new.example.test", true)
		tlsBefore := c.AdminGet(t, "/config/apps/tls")
		start := time.Now()
		err := r.Certify(ctx, proxy.Route{Workload: "web", Domains: append(slices.Clone(route.Domains), "new.example.test"), Upstreams: []string{green}})
		var certErr *proxy.CertificateError
		if !errors.As(err, &certErr) || certErr.Domain != "new.example.test" || !strings.Contains(certErr.Reason, "urn:ietf:params:acme:error") {
			t.Fatalf("Certify = %v, want a CertificateError for new.example.test with the ACME problem", err)
		}
		if elapsed := time.Since(start); elapsed > 15*time.Second {
			t.Fatalf("the refusal took %s: it should arrive through Caddy's log, not the time bound", elapsed)
		}
		t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
		if got := c.AdminGet(t, "/config/apps/tls"); !jsonEqual(t, got, tlsBefore) {
			t.Fatalf("a refused Certify left Caddy's TLS app changed:\nbefore %s\nafter  %s", tlsBefore, got)
		}
		getHTTPS(t, c, roots, "web.example.test", "green")
	})

	t.Run("without Caddy's log, a refusal fails at the wait's bound", func(t *testing.T) {
		// A Caddy on another machine: its log does not reach the provider.
		https := a.https
		https.IssuerLog, https.CertificateTimeout = false, 4*time.Second
		remote := a.router(t, https)
		a.pebble.DNS.Refuse("late.example.test", true)
		tlsBefore := c.AdminGet(t, "/config/apps/tls")
		start := time.Now()
		err := remote.Certify(ctx, proxy.Route{Workload: "web", Domains: append(slices.Clone(route.Domains), "late.example.test"), Upstreams: []string{green}})
		elapsed := time.Since(start)
		var certErr *proxy.CertificateError
		if !errors.As(err, &certErr) || certErr.Domain != "late.example.test" || !strings.Contains(certErr.Reason, "not served within 4s (the wait's bound)") {
			t.Fatalf("Certify = %v, want a CertificateError for late.example.test at the bound", err)
		}
		if elapsed < 4*time.Second || elapsed > 20*time.Second {
			t.Fatalf("the refusal came after %s, want the bound (4s)", elapsed)
		}
		t.Logf("refused at the bound in %s: %v", elapsed.Round(time.Millisecond), err)
		if got := c.AdminGet(t, "/config/apps/tls"); !jsonEqual(t, got, tlsBefore) {
			t.Fatalf("a refused Certify left Caddy's TLS app changed:\nbefore %s\nafter  %s", tlsBefore, got)
		}
		if !strings.Contains(tlsBefore, `"email":"ops@example.test"`) {
			t.Fatalf("the ACME issuer lacks the account's email: %s", tlsBefore)
		}
		getHTTPS(t, c, roots, "web.example.test", "green")
	})

	t.Run("a wildcard is refused for an ACME CA", func(t *testing.T) {
		err := r.Certify(ctx, proxy.Route{Workload: "wild", Domains: []string{"*.wild.example.test"}, Upstreams: []string{blue}})
		if err == nil || !strings.Contains(err.Error(), `domain "*.wild.example.test"`) || !strings.Contains(err.Error(), "DNS-01") {
			t.Fatalf("Certify of a wildcard = %v", err)
		}
	})

	t.Run("Caddy restarts", func(t *testing.T) {
		issued := strings.Count(a.pebble.Log(), "Issued certificate")
		want, err := r.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// --resume: the routes and certificates are back as they were
		// (the config names a UDP log sink nobody listens on: it loads).
		c.Restart(t, true)
		if got, err := r.Routes(ctx); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("after a restart with --resume Routes = %v (%v), want %v", got, err, want)
		}
		getHTTPS(t, c, roots, "web.example.test", "green")
		if again, err := c.ServedCertificate("web.example.test", roots); err != nil || !again.Equal(leaf) {
			t.Fatalf("after a restart with --resume Caddy serves another certificate (%v)", err)
		}
		// Restarted empty: no route, and the provider's Certify and
		// Upsert restore them with the certificates Caddy kept in its
		// storage.
		c.Restart(t, false)
		if got, err := r.Routes(ctx); err != nil || len(got) != 0 {
			t.Fatalf("after an empty restart Routes = %v (%v), want none", got, err)
		}
		restored := proxy.Route{Workload: "web", Domains: route.Domains, Upstreams: []string{green}}
		if err := r.Certify(ctx, restored); err != nil {
			t.Fatal(err)
		}
		upsert(t, r, restored)
		getHTTPS(t, c, roots, "www.example.test", "green")
		if again, err := c.ServedCertificate("web.example.test", roots); err != nil || !again.Equal(leaf) {
			t.Fatalf("after an empty restart Caddy serves another certificate (%v)", err)
		}
		if n := strings.Count(a.pebble.Log(), "Issued certificate"); n != issued {
			t.Fatalf("the restarts made Pebble issue %d certificates, want none", n-issued)
		}
	})

	t.Run("delete removes the certificates", func(t *testing.T) {
		if err := r.Delete(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		var app struct {
			Certificates struct {
				Automate []string `json:"automate"`
			} `json:"certificates"`
			Automation struct {
				Policies []json.RawMessage `json:"policies"`
			} `json:"automation"`
		}
		if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/apps/tls")), &app); err != nil {
			t.Fatal(err)
		}
		if len(app.Certificates.Automate) != 0 || len(app.Automation.Policies) != 0 {
			t.Fatalf("after delete the TLS app holds %+v", app)
		}
	})
}

// TestHTTPSCustomCertificate: a route with its own certificate is served
// with exactly it, read back without its key, rotated in place by a new
// one, and removed with the route; a certificate that misses a domain or
// whose key is another's is refused before Caddy is touched, and no error
// or log line ever carries the key.
func TestHTTPSCustomCertificate(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddyWithConfig(t, acctest.HTTPSConfig)
	logs := &logSink{}
	r, err := caddy.New(caddy.Config{AdminURL: c.AdminURL, Listen: c.HTTPSListen(), Log: logs.log,
		HTTPS: &caddy.HTTPS{Issuer: caddy.IssuerInternal, RedirectHTTP: true, CertificateTimeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ca := acctest.MustTestCA(t, "tinyforge custom certificate CA")
	first := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"shop.example.test", "*.shop.example.test"}})
	second := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"shop.example.test", "*.shop.example.test"}})
	domains := []string{"shop.example.test", "*.shop.example.test"}
	up := backend(t, "shop")
	deploy := func(leaf acctest.Leaf) {
		t.Helper()
		route := proxy.Route{Workload: "shop", Domains: domains, Upstreams: []string{up}, TLS: &proxy.TLS{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}}
		if err := r.Certify(ctx, route); err != nil {
			t.Fatalf("Certify: %v", err)
		}
		upsert(t, r, route)
	}
	served := func(name string) *x509.Certificate {
		t.Helper()
		leaf, err := c.ServedCertificate(name, ca.Pool())
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}

	deploy(first)
	getHTTPS(t, c, ca.Pool(), "shop.example.test", "shop")
	getHTTPS(t, c, ca.Pool(), "eu.shop.example.test", "shop")
	if !served("shop.example.test").Equal(first.Cert) {
		t.Fatal("Caddy does not serve the route's own certificate")
	}
	routes, err := r.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].TLS == nil || routes[0].TLS.CertificatePEM != first.CertPEM || routes[0].TLS.KeyPEM != "" {
		t.Fatalf("Routes = %v (%v), want the route with its certificate and no key", routes, err)
	}
	if strings.Contains(c.AdminGet(t, "/config/apps/tls"), `"automate"`) {
		t.Fatal("Caddy was asked to get a certificate for names that bring their own")
	}

	// The rotation under load: clients that open a new connection every
	// third request, so that handshakes go on throughout, each verified
	// against the CA; a connection Caddy resets as it loads a config is
	// tried again, and counted.
	load := (&acctest.Load{URL: "https://shop.example.test/", Host: "shop.example.test", Addr: c.HTTPSListen()[1],
		Clients: 4, Interval: 2 * time.Millisecond, NewConnectionEvery: 3, RetryResets: true, TLS: &tls.Config{RootCAs: ca.Pool()}}).Start(ctx)
	acctest.Eventually(t, 20*time.Second, 10*time.Millisecond, "the load gets no answer", func() bool { return load.Answers() > 50 })
	deploy(second)
	time.Sleep(300 * time.Millisecond)
	st := load.Stop()
	t.Logf("rotation under load: %d requests over %d new TLS connections, %d failed, %d retried after a reset", st.Total, st.Connections, st.Failed, st.Retried)
	if st.Failed != 0 || st.Connections < 20 {
		t.Fatalf("rotation under load: %d of %d requests failed over %d handshakes: %v", st.Failed, st.Total, st.Connections, st.FirstFailures)
	}
	// A handshake the server of the previous config still takes gets the
	// old certificate, or is reset.
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "after rotation Caddy does not serve the new certificate", func() bool {
		leaf, err := c.ServedCertificate("shop.example.test", ca.Pool())
		return err == nil && leaf.Equal(second.Cert)
	})
	if n := strings.Count(c.AdminGet(t, "/config/apps/tls"), "BEGIN CERTIFICATE"); n != 1 {
		t.Fatalf("after rotation Caddy holds %d certificates, want 1", n)
	}

	for name, tc := range map[string]struct {
		leaf    acctest.Leaf
		key     string
		domains []string
		want    string
	}{
		"a domain the certificate misses": {leaf: second, key: second.KeyPEM, domains: []string{"shop.example.test", "admin.example.test"}, want: `does not cover domain "admin.example.test"`},
		"another certificate's key":       {leaf: second, key: first.KeyPEM, domains: domains, want: "is not the key of the certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			before := c.AdminGet(t, "/config/apps/tls")
			err := r.Certify(ctx, proxy.Route{Workload: "shop", Domains: tc.domains, Upstreams: []string{up}, TLS: &proxy.TLS{CertificatePEM: tc.leaf.CertPEM, KeyPEM: tc.key}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Certify = %v, want %q", err, tc.want)
			}
			if c.AdminGet(t, "/config/apps/tls") != before {
				t.Fatal("a refused certificate changed Caddy's TLS app")
			}
			assertNoKey(t, err.Error(), first, second)
		})
	}

	if err := r.Delete(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.AdminGet(t, "/config/apps/tls"), "BEGIN") {
		t.Fatal("delete left the certificate in Caddy")
	}
	assertNoKey(t, strings.Join(logs.lines, "\n"), first, second)
}

// assertNoKey fails when text quotes a line of a key.
func assertNoKey(t *testing.T, text string, leaves ...acctest.Leaf) {
	t.Helper()
	for _, l := range leaves {
		for _, line := range strings.Split(l.KeyPEM, "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line[:20]) {
				t.Fatalf("a private key leaked into: %s", text)
			}
		}
	}
}

// TestHTTPSInternalIssuer: with issuer "internal" Caddy's local CA issues
// the certificate, verified against that CA's root only.
func TestHTTPSInternalIssuer(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddyWithConfig(t, acctest.HTTPSConfig)
	r, err := caddy.New(caddy.Config{AdminURL: c.AdminURL, Listen: c.HTTPSListen(),
		HTTPS: &caddy.HTTPS{Issuer: caddy.IssuerInternal, CertificateTimeout: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	route := proxy.Route{Workload: "intranet", Domains: []string{"intranet.example.test", "*.intranet.example.test"}, Upstreams: []string{backend(t, "intranet")}}
	if err := r.Certify(context.Background(), route); err != nil {
		t.Fatalf("Certify: %v\ncaddy log:\n%s", err, c.Log())
	}
	upsert(t, r, route)
	getHTTPS(t, c, c.LocalCARoots(t), "intranet.example.test", "intranet")
	getHTTPS(t, c, c.LocalCARoots(t), "a.intranet.example.test", "intranet")
	// Without redirect_http, HTTP still serves the route.
	wantBody(t, c, "intranet.example.test", "intranet")
}

// TestHTTPSRefusesAnHTTPPortThatWouldSpeakTLS: Caddy serves TLS on every
// port of a server but its http_port; listen[0] on another port is refused
// before anything is written, saying what to set.
func TestHTTPSRefusesAnHTTPPortThatWouldSpeakTLS(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t) // http_port left at 80
	r, err := caddy.New(caddy.Config{AdminURL: c.AdminURL, Listen: c.HTTPSListen(), HTTPS: &caddy.HTTPS{Issuer: caddy.IssuerInternal}})
	if err != nil {
		t.Fatal(err)
	}
	before := c.AdminGet(t, "/config/")
	err = r.Certify(context.Background(), proxy.Route{Workload: "web", Domains: []string{"web.example.test"}, Upstreams: []string{"127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "http_port (apps.http.http_port) is 80") || !strings.Contains(err.Error(), "set http_port to "+strconv.Itoa(c.HTTPPort)) {
		t.Fatalf("Certify = %v", err)
	}
	if c.AdminGet(t, "/config/") != before {
		t.Fatal("the refused Certify wrote to Caddy")
	}
}

// TestHTTPSSettingsAreChecked: listen with HTTPS needs an HTTP and an
// HTTPS address, an issuer is one of the two, acme_ca an https URL.
func TestHTTPSSettingsAreChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen []string
		https  caddy.HTTPS
		want   string
	}{
		{listen: []string{":80"}, want: "give two addresses, the HTTP one first and the HTTPS one second"},
		{listen: []string{":443", ":443"}, want: "need two ports"},
		{listen: []string{":80", "nope"}, want: `listen[1] "nope": want host:port`},
		{https: caddy.HTTPS{Issuer: "zerossl"}, want: `issuer "zerossl": want one of acme, internal`},
		{https: caddy.HTTPS{ACMECA: "http://ca.example.test/dir"}, want: "want the https:// URL of an ACME directory"},
	} {
		_, err := caddy.New(caddy.Config{Listen: tc.listen, HTTPS: &tc.https})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(listen %q, %+v) = %v, want %q", tc.listen, tc.https, err, tc.want)
		}
	}
	r, err := caddy.New(caddy.Config{HTTPS: &caddy.HTTPS{}})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	_ = r
}

// TestWriteRootFile: the root lands in a file named by its content,
// readable by all, written once; junk is refused.
func TestWriteRootFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	ca := acctest.MustTestCA(t, "a private ACME CA")
	path, err := caddy.WriteRootFile(dir, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("%s: %v %v", path, info, err)
	}
	if again, err := caddy.WriteRootFile(dir, ca.CertPEM); err != nil || again != path {
		t.Fatalf("again: %s %v", again, err)
	}
	other := acctest.MustTestCA(t, "another")
	if p2, err := caddy.WriteRootFile(dir, other.CertPEM); err != nil || p2 == path {
		t.Fatalf("another root: %s %v", p2, err)
	}
	if _, err := caddy.WriteRootFile(dir, "junk"); err == nil {
		t.Fatal("junk accepted")
	}
}
