package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/engine"
)

// httpsCaddy is one Caddy serving HTTPS with certificates from a real
// Pebble that validates HTTP-01 against it, shared by the subtests of a
// test: the HTTPS client of the checks trusts only Pebble's roots (from
// its management API), or the test's CA, never anything else.
type httpsCaddy struct {
	caddy  *acctest.Caddy
	pebble *acctest.Pebble
}

func startHTTPSCaddy(t *testing.T) *httpsCaddy {
	t.Helper()
	c := acctest.StartPersistentCaddy(t, acctest.HTTPSConfig)
	p := acctest.StartPebble(t, c.HTTPPort, acctest.StartDNS(t))
	t.Cleanup(func() {
		// The root file the provider wrote for Caddy, in its state
		// directory: named by its content.
		if path, err := caddy.WriteRootFile(engine.DefaultStateDir(), p.DirectoryCAPEM); err == nil {
			os.Remove(path)
		}
	})
	return &httpsCaddy{caddy: c, pebble: p}
}

// block is the provider's proxy block: https with Pebble as the ACME CA.
func (h *httpsCaddy) block() string {
	return fmt.Sprintf(`  proxy {
    caddy {
      admin_url = %q
      listen    = [%q, %q]
      https {
        acme_ca          = %q
        acme_ca_root_pem = %q
        email            = "ops@example.test"
      }
    }
  }
`, h.caddy.AdminURL, h.caddy.HTTPSListen()[0], h.caddy.HTTPSListen()[1], h.pebble.DirectoryURL, h.pebble.DirectoryCAPEM)
}

// internalCABlock is the provider's proxy block for c serving HTTPS with
// certificates from Caddy's local CA.
func internalCABlock(c *acctest.Caddy) string {
	return fmt.Sprintf(`  proxy {
    caddy {
      admin_url = %q
      listen    = [%q, %q]
      https {
        issuer = "internal"
      }
    }
  }
`, c.AdminURL, c.HTTPSListen()[0], c.HTTPSListen()[1])
}

// oneDomainWorkload is a tinyforge_workload resource (key) of an image
// answering on one domain, without a health check.
func oneDomainWorkload(key, name, domain, ref string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" %q {
  name           = %q
  domains        = [%q]
  health_timeout = 20
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}
`, key, name, domain, ref)
}

// issued is how many certificates Pebble has issued so far.
func (h *httpsCaddy) issued() int { return h.pebble.Issued() }

// overHTTPS checks that https://domain/ through Caddy, trusting only
// roots, answers want with a certificate for domain, once Caddy has
// settled on its last config; it keeps the leaf.
func overHTTPS(c *acctest.Caddy, roots func() *x509.CertPool, domain, want string, leaf **x509.Certificate) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return settled(func() error {
			resp, err := c.HTTPSClient(roots()).Get("https://" + domain + "/")
			if err != nil {
				return fmt.Errorf("GET https://%s/ through Caddy: %v", domain, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != want {
				return fmt.Errorf("GET https://%s/ through Caddy: %d %q, want 200 %q", domain, resp.StatusCode, clip(string(b)), want)
			}
			served := resp.TLS.PeerCertificates[0]
			if served.VerifyHostname(domain) != nil {
				return fmt.Errorf("Caddy served a certificate for %v, not %s", served.DNSNames, domain)
			}
			if leaf != nil {
				*leaf = served
			}
			return nil
		})
	}
}

// redirects checks that HTTP answers 308 to the same URL over HTTPS, once
// Caddy has settled on its last config.
func redirects(c *acctest.Caddy, domain string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return settled(func() error {
			req, _ := http.NewRequest(http.MethodGet, c.HTTPURL+"/a?b=c", nil)
			req.Host = domain
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			want := "https://" + domain + ":" + strconv.Itoa(c.HTTPSPort) + "/a?b=c"
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
				return fmt.Errorf("HTTP answered %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
			}
			return nil
		})
	}
}

// httpsLoad runs an HTTPS load through Caddy from PreConfig to Check of a
// step.
type httpsLoad struct {
	mu    sync.Mutex
	load  acctest.Load
	run   *acctest.Run
	stats acctest.Stats
}

func (l *httpsLoad) start(roots *x509.CertPool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.load.TLS = &tls.Config{RootCAs: roots}
	l.run = l.load.Start(context.Background())
}

func (l *httpsLoad) stop() acctest.Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		time.Sleep(300 * time.Millisecond)
		l.stats = l.run.Stop()
		l.run = nil
	}
	return l.stats
}

// TestAccHTTPSFromAnACMECA: with Pebble as the ACME CA, validating HTTP-01
// for real against the provider's Caddy, the first deploy obtains a
// certificate before the apply returns, HTTP redirects, import reads the
// workload back, a blue-green redeploy under HTTPS load fails no request
// and keeps the certificate, a domain the CA refuses fails the apply
// naming it while v2 keeps serving (and a new workload it refuses leaves
// nothing behind), Caddy restarted with --resume keeps
// routes and certificates (nothing issued again), and Caddy restarted
// empty shows in the plan and is restored by the apply with the
// certificates it kept in storage.
func TestAccHTTPSFromAnACMECA(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	h := startHTTPSCaddy(t)
	name := env.workloadName("tls")
	domain := name + ".test"
	refused := "refused-" + name + ".test"
	h.pebble.DNS.Refuse(refused, true)
	// A new workload whose only domain the CA refuses.
	newcomer := env.workloadName("tlsnew")
	newcomerDomain := newcomer + ".test"
	h.pebble.DNS.Refuse(newcomerDomain, true)
	newcomerCfg := oneDomainWorkload("newcomer", newcomer, newcomerDomain, env.images.V1)
	leftNothing := func(*terraform.State) error {
		if err := noContainersLeft(t, newcomer)(nil); err != nil {
			return fmt.Errorf("the refused create: %w", err)
		}
		if app := h.caddy.AdminGet(t, "/config/apps/tls"); strings.Contains(app, newcomer) {
			return fmt.Errorf("the refused create left its certificate entries in Caddy: %s", app)
		}
		return noRoute(t, h.caddy, newcomer)
	}
	roots := func() *x509.CertPool { return h.pebble.Roots(t) }
	cfg := func(ref string, domains ...string) string {
		quoted := hclStrings(domains...)
		return env.provider(h.block()) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = "blue-green"
  domains         = [%s]
  drain_timeout   = 1
  health_timeout  = 20
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, quoted, ref)
	}
	var first, leaf *x509.Certificate
	var issued int
	load := &httpsLoad{load: acctest.Load{URL: "https://" + domain + "/", Host: domain, Addr: h.caddy.HTTPSListen()[1],
		Clients: 4, Timeout: 5 * time.Second, Interval: 5 * time.Millisecond}}
	t.Cleanup(func() { load.stop() })
	start := time.Now()
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			if app := h.caddy.AdminGet(t, "/config/apps/tls"); strings.Contains(app, name) {
				return fmt.Errorf("destroy left the certificates of %s in Caddy: %s", name, app)
			}
			return noRoute(t, h.caddy, name)
		},
		Steps: []resource.TestStep{
			{ // the first deploy: the certificate is there when the apply returns
				Config:           cfg(env.images.V1, domain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						t.Logf("first deploy with a certificate from Pebble: %s", time.Since(start).Round(time.Millisecond))
						return nil
					},
					overHTTPS(h.caddy, roots, domain, "v1", &first),
					redirects(h.caddy, domain),
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
			},
			{ // blue-green under HTTPS load: no request fails, the certificate stays
				PreConfig: func() {
					issued = h.issued()
					load.start(roots())
				},
				Config:           cfg(env.images.V2, domain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						st := load.stop()
						t.Logf("blue-green over HTTPS: %d requests, %d failed, %v", st.Total, st.Failed, st.Sequence())
						if st.Failed != 0 || st.Bodies["v1"] == 0 || st.Bodies["v2"] == 0 {
							return fmt.Errorf("blue-green over HTTPS: %d of %d requests failed (%v), bodies %v", st.Failed, st.Total, st.FirstFailures, st.Bodies)
						}
						if seq := st.Sequence(); seq[len(seq)-1] != "v2" {
							return fmt.Errorf("answers ended with %v", seq)
						}
						return nil
					},
					overHTTPS(h.caddy, roots, domain, "v2", &leaf),
					func(*terraform.State) error {
						if !leaf.Equal(first) || h.issued() != issued {
							return fmt.Errorf("the swap changed the certificate (or Pebble issued %d more)", h.issued()-issued)
						}
						return nil
					},
				),
			},
			{ // a domain the CA refuses: the apply fails naming it
				Config:      cfg(env.images.V3, domain, refused),
				ExpectError: regexp.MustCompile(`(?s)no certificate for\s+domain\s+"` + regexp.QuoteMeta(refused) + `".*challenge\s+failed`),
			},
			{ // ... and v2 still serves, over HTTPS; the plan offers v3 again
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				Check: resource.ComposeTestCheckFunc(
					overHTTPS(h.caddy, roots, domain, "v2", nil),
					resource.TestCheckResourceAttr(web, "generation", "2"),
				),
			},
			{ // a new workload the CA refuses: the create fails naming its domain ...
				Config:      cfg(env.images.V2, domain) + newcomerCfg,
				ExpectError: regexp.MustCompile(`(?s)no certificate for\s+domain\s+"` + regexp.QuoteMeta(newcomerDomain) + `".*challenge\s+failed`),
			},
			{ // ... and leaves nothing: no container, no route, no certificate entry, nothing in the state
				Config:           cfg(env.images.V2, domain),
				ConfigPlanChecks: emptyPlanAfterApply(plancheck.ExpectEmptyPlan()),
				Check:            resource.ComposeTestCheckFunc(leftNothing, overHTTPS(h.caddy, roots, domain, "v2", nil)),
			},
			{ // Caddy restarted with --resume: nothing to do, nothing issued again
				PreConfig: func() {
					issued = h.issued()
					h.caddy.Restart(t, true)
				},
				Config:           cfg(env.images.V2, domain),
				ConfigPlanChecks: emptyPlanAfterApply(plancheck.ExpectEmptyPlan()),
				Check: resource.ComposeTestCheckFunc(
					overHTTPS(h.caddy, roots, domain, "v2", &leaf),
					func(*terraform.State) error {
						if !leaf.Equal(first) || h.issued() != issued {
							return fmt.Errorf("after a restart with --resume: another certificate, or %d issued", h.issued()-issued)
						}
						return nil
					},
				),
			},
			{ // Caddy restarted empty: the plan shows the missing route ...
				PreConfig:          func() { h.caddy.Restart(t, false) },
				Config:             cfg(env.images.V2, domain),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{ // ... and the apply restores it, with the certificate Caddy kept
				Config: cfg(env.images.V2, domain),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.CompareValuePairs(web, tfjsonpath.New("routed_to"), web, tfjsonpath.New("upstream"), compareEqual),
				},
				Check: resource.ComposeTestCheckFunc(
					overHTTPS(h.caddy, roots, domain, "v2", &leaf),
					redirects(h.caddy, domain),
					func(*terraform.State) error {
						if !leaf.Equal(first) || h.issued() != issued {
							return fmt.Errorf("after an empty restart: another certificate, or %d issued", h.issued()-issued)
						}
						return nil
					},
				),
			},
		},
	})
}

// TestAccHTTPSOwnCertificate: a workload's own certificate is checked at
// plan (a domain it misses is named), served as it is, read back by
// import, rotated under HTTPS load with a handshake every few requests and
// none failed and no container touched, put back (the key from the
// configuration) after Caddy restarted empty, and removed from Caddy on
// destroy. Another Caddy with issuer "internal" serves a second workload
// with Caddy's local CA.
func TestAccHTTPSOwnCertificate(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	c := acctest.StartCaddyWithConfig(t, acctest.HTTPSConfig)
	name := env.workloadName("own")
	domain := name + ".test"
	ca := acctest.MustTestCA(t, "tinyforge acceptance CA")
	first := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{domain, "*." + domain}})
	second := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{domain, "*." + domain}})
	block := internalCABlock(c)
	cfg := func(leaf acctest.Leaf, version int, domains ...string) string {
		quoted := hclStrings(domains...)
		return env.provider(block) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name           = %q
  domains        = [%s]
  health_timeout = 20
  tls {
    certificate_pem            = %q
    private_key_pem_wo         = %q
    private_key_pem_wo_version = %d
  }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, quoted, leaf.CertPEM+ca.CertPEM, leaf.KeyPEM, version, env.images.V1)
	}
	internal := env.workloadName("int")
	internalDomain := internal + ".test"
	internalCfg := env.provider(block) + oneDomainWorkload("web", internal, internalDomain, env.images.V1)
	servedIs := func(want acctest.Leaf) resource.TestCheckFunc {
		return func(*terraform.State) error {
			return settled(func() error {
				got, err := c.ServedCertificate(domain, ca.Pool())
				if err != nil || !got.Equal(want.Cert) {
					return fmt.Errorf("Caddy serves another certificate than the workload's (%v)", err)
				}
				return nil
			})
		}
	}
	load := &httpsLoad{load: acctest.Load{URL: "https://" + domain + "/", Host: domain, Addr: c.HTTPSListen()[1], Clients: 4,
		Timeout: 5 * time.Second, Interval: 5 * time.Millisecond, NewConnectionEvery: 3, RetryResets: true}}
	t.Cleanup(func() { load.stop() })
	var containerID string
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name, internal)(s); err != nil {
				return err
			}
			if app := c.AdminGet(t, "/config/apps/tls"); strings.Contains(app, internal) {
				return fmt.Errorf("destroy left the certificates of %s in Caddy: %s", internal, app)
			}
			return noRoute(t, c, internal)
		},
		Steps: []resource.TestStep{
			{ // a domain the certificate misses is refused at plan
				Config:      cfg(first, 1, domain, "api-"+domain),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)does not cover domain\s+"api-` + regexp.QuoteMeta(domain) + `"`),
			},
			{
				Config:           cfg(first, 1, domain, "*."+domain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("tls").AtMapKey("private_key_pem_wo"), knownvalue.Null()),
				},
				Check: resource.ComposeTestCheckFunc(
					overHTTPS(c, ca.Pool, domain, "v1", nil),
					overHTTPS(c, ca.Pool, "eu."+domain, "v1", nil),
					servedIs(first),
					func(s *terraform.State) (err error) {
						containerID, err = stateAttr(s, web, "container_id")
						return noKeyIn(s, first)
					},
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				// Write-only: the version tells Terraform of a new key,
				// and nothing on the host records it.
				ImportStateVerifyIgnore: []string{"tls.private_key_pem_wo_version"},
			},
			{ // rotation under load: handshakes go on, none fails, no container moves
				PreConfig:        func() { load.start(ca.Pool()) },
				Config:           cfg(second, 2, domain, "*."+domain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					servedIs(second),
					resource.TestCheckResourceAttrWith(web, "container_id", func(id string) error {
						if id != containerID {
							return fmt.Errorf("the rotation replaced the container")
						}
						return nil
					}),
					func(s *terraform.State) error {
						st := load.stop()
						t.Logf("rotation under HTTPS load: %d requests over %d new TLS connections, %d failed, %d retried after a reset",
							st.Total, st.Connections, st.Failed, st.Retried)
						if st.Failed != 0 || st.Connections < 10 {
							return fmt.Errorf("rotation: %d of %d requests failed over %d handshakes: %v", st.Failed, st.Total, st.Connections, st.FirstFailures)
						}
						return noKeyIn(s, second)
					},
				),
			},
			{ // Caddy restarted empty: the plan shows the certificate and the route gone ...
				PreConfig:          func() { c.Restart(t, false) },
				Config:             cfg(second, 2, domain, "*."+domain),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{ // ... and the apply puts both back, the key from the configuration
				Config: cfg(second, 2, domain, "*."+domain),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("tls").AtMapKey("certificate_pem"), knownvalue.StringExact(second.CertPEM+ca.CertPEM)),
				),
				Check: resource.ComposeTestCheckFunc(
					servedIs(second),
					overHTTPS(c, ca.Pool, "eu."+domain, "v1", nil),
					resource.TestCheckResourceAttrWith(web, "container_id", func(id string) error {
						if id != containerID {
							return fmt.Errorf("restoring the route replaced the container")
						}
						return nil
					}),
				),
			},
			{ // the workload goes (its certificate with it); issuer internal serves another
				Config:           internalCfg,
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					overHTTPS(c, func() *x509.CertPool { return c.LocalCARoots(t) }, internalDomain, "v1", nil),
					func(*terraform.State) error {
						if app := c.AdminGet(t, "/config/apps/tls"); strings.Contains(app, "BEGIN") || strings.Contains(app, name) {
							return fmt.Errorf("the replaced workload's certificate is still in Caddy")
						}
						return nil
					},
				),
			},
		},
	})
}

// noKeyIn fails when the state holds any line of leaf's key.
func noKeyIn(s *terraform.State, leaf acctest.Leaf) error {
	for _, m := range s.Modules {
		for _, r := range m.Resources {
			for k, v := range r.Primary.Attributes {
				if strings.Contains(v, leaf.KeyPEM[40:80]) {
					return fmt.Errorf("the state holds the private key in %s", k)
				}
			}
		}
	}
	return nil
}

// TestAccNPMHTTPS: through Nginx Proxy Manager (the stand-in, which
// enforces NPM's certificate requests), a workload's own certificate is
// uploaded and served, imported (the next apply records the tls block in
// place, uploading nothing), rotated (the old one deleted);
// with https {}, another workload gets a Let's Encrypt certificate, and a
// domain Let's Encrypt refuses fails the apply naming it while the route
// serves on; destroy deletes the certificates the provider made and never
// the user's.
func TestAccNPMHTTPS(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	own, le := env.workloadName("own"), env.workloadName("le")
	ownDomain, leDomain, refused := own+".test", le+".test", "refused-"+le+".test"
	npm.RefuseLetsEncrypt(refused, "DNS problem: NXDOMAIN looking up A for "+refused)
	ca := acctest.MustTestCA(t, "tinyforge NPM acceptance CA")
	first := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{ownDomain}})
	second := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{ownDomain}})
	userCert := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"user.example.test"}})
	userID := npm.SeedCertificate("the user's", userCert.CertPEM, userCert.KeyPEM)
	block := strings.Replace(npmBlock(npm), "    }\n  }\n", "      https {}\n    }\n  }\n", 1)
	cfg := func(leaf acctest.Leaf, version int, leDomains ...string) string {
		quoted := hclStrings(leDomains...)
		return env.provider(block) + fmt.Sprintf(`
resource "tinyforge_workload" "own" {
  name           = %q
  domains        = [%q]
  health_timeout = 20
  tls {
    certificate_pem            = %q
    private_key_pem_wo         = %q
    private_key_pem_wo_version = %d
  }
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}

resource "tinyforge_workload" "le" {
  name           = %q
  domains        = [%s]
  health_timeout = 20
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}
`, own, ownDomain, leaf.CertPEM, leaf.KeyPEM, version, env.images.V1, le, quoted, env.images.V2)
	}
	servedBy := func(domain string, roots *x509.CertPool, want *acctest.Leaf, body string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			u := strings.TrimPrefix(npm.HTTPSURL, "https://")
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, u)
				},
				TLSClientConfig: &tls.Config{RootCAs: roots},
			}}
			var err error
			// NPM's nginx serves a change once it has reloaded.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				var resp *http.Response
				if resp, err = client.Get("https://" + domain + "/"); err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				leaf := resp.TLS.PeerCertificates[0]
				switch {
				case strings.TrimSpace(string(b)) != body:
					err = fmt.Errorf("answer %q, want %q", b, body)
				case want != nil && !leaf.Equal(want.Cert):
					err = fmt.Errorf("NPM serves another certificate than the workload's")
				default:
					return nil
				}
			}
			return fmt.Errorf("GET https://%s/ through NPM: %v", domain, err)
		}
	}
	certificates := func(want ...string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			var got []string
			for _, c := range npm.Certificates() {
				got = append(got, c.Provider+" "+strings.Join(c.DomainNames, ","))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				return fmt.Errorf("NPM holds certificates %q, want %q", got, want)
			}
			return nil
		}
	}
	// forgetOwn is a configuration without the own workload that tells
	// Terraform to forget it, not destroy it.
	forgetOwn := func(config string) string {
		provider, rest, _ := strings.Cut(config, "\nresource \"tinyforge_workload\" \"own\"")
		_, le, _ := strings.Cut(rest, "\nresource \"tinyforge_workload\" \"le\"")
		return provider + `
removed {
  from = tinyforge_workload.own
  lifecycle {
    destroy = false
  }
}
` + "\nresource \"tinyforge_workload\" \"le\"" + le
	}
	ownRes, leRes := "tinyforge_workload.own", "tinyforge_workload.le"
	var ownCert, uploads int
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, own, le)(s); err != nil {
				return err
			}
			if certs := npm.Certificates(); len(certs) != 1 || certs[0].ID != userID {
				return fmt.Errorf("after destroy NPM holds %+v, want only the user's certificate", certs)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:           cfg(first, 1, leDomain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					servedBy(ownDomain, ca.Pool(), &first, "v1"),
					servedBy(leDomain, npm.LetsEncryptRoot(), nil, "v2"),
					certificates("other user.example.test", "other "+ownDomain, "letsencrypt "+leDomain),
					func(s *terraform.State) error { return noKeyIn(s, first) },
					func(*terraform.State) error {
						for _, d := range []string{ownDomain, leDomain} {
							if h := hostsOn(npm, d); len(h) != 1 || h[0].CertificateID == 0 || !h[0].SSLForced || !h[0].HTTP2Support {
								return fmt.Errorf("the proxy host of %s: %+v, want a certificate with ssl_forced and http2_support", d, h)
							}
						}
						return nil
					},
				),
			},
			{
				ResourceName:                         ownRes,
				ImportState:                          true,
				ImportStateId:                        own,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				// NPM keeps no PEM the provider can read back (only the
				// fingerprint it named the certificate with).
				ImportStateVerifyIgnore: []string{"tls"},
			},
			{ // forget the workload (a removed block), then import it for real ...
				Config:           forgetOwn(cfg(first, 1, leDomain)),
				ConfigPlanChecks: emptyPlanAfterApply(),
			},
			{
				Config:             cfg(first, 1, leDomain),
				ResourceName:       ownRes,
				ImportState:        true,
				ImportStateId:      own,
				ImportStatePersist: true,
			},
			{ // ... the imported state has no tls: the apply records it in place, uploading nothing
				PreConfig: func() {
					ownCert = hostsOn(npm, ownDomain)[0].CertificateID
					uploads = len(npm.Certificates())
				},
				Config:           cfg(first, 1, leDomain),
				ConfigPlanChecks: emptyPlanAfterApply(plancheck.ExpectResourceAction(ownRes, plancheck.ResourceActionUpdate)),
				Check: resource.ComposeTestCheckFunc(
					servedBy(ownDomain, ca.Pool(), &first, "v1"),
					func(*terraform.State) error {
						if h := hostsOn(npm, ownDomain); len(h) != 1 || h[0].CertificateID != ownCert || len(npm.Certificates()) != uploads {
							return fmt.Errorf("the apply after the import changed the certificates: host %+v, %d certificates (were %d)", h, len(npm.Certificates()), uploads)
						}
						return nil
					},
				),
			},
			{ // a rotation: a new certificate attached, the old deleted
				Config:           cfg(second, 2, leDomain),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					servedBy(ownDomain, ca.Pool(), &second, "v1"),
					certificates("other user.example.test", "letsencrypt "+leDomain, "other "+ownDomain),
					func(s *terraform.State) error { return noKeyIn(s, second) },
				),
			},
			{ // a domain Let's Encrypt refuses: the apply fails naming it
				Config:      cfg(second, 2, leDomain, refused),
				ExpectError: regexp.MustCompile(`(?s)no certificate for\s+domain\s+"` + regexp.QuoteMeta(refused) + `".*NXDOMAIN`),
			},
			{ // ... the route serves on, with its certificate
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				Check: resource.ComposeTestCheckFunc(
					servedBy(leDomain, npm.LetsEncryptRoot(), nil, "v2"),
					resource.TestCheckResourceAttr(leRes, "domains.#", "1"),
				),
			},
		},
	})
}

// hclStrings is values as the elements of an HCL list: each quoted, joined
// by ", ".
func hclStrings(values ...string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strconv.Quote(v)
	}
	return strings.Join(quoted, ", ")
}
