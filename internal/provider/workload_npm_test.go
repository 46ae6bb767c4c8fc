package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
)

const (
	npmEmail    = "admin@example.test"
	npmPassword = "npm-secret-password-7f3a"
)

// npmBlock is a proxy block for the NPM stand-in; NPM runs on the host
// here, so it forwards to published ports, and the provider probes through
// its nginx.
func npmBlock(s *npmstandin.Server) string {
	return fmt.Sprintf(`  proxy {
    npm {
      url        = %q
      email      = %q
      password   = %q
      forward_to = "published"
      http_url   = %q
    }
  }
`, s.URL, npmEmail, npmPassword, s.HTTPURL)
}

// throughNPM checks that NPM's nginx routes domain to an answer of want.
func throughNPM(s *npmstandin.Server, domain, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		req, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/", nil)
		req.Host = domain
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if got := strings.TrimSpace(b.String()); resp.StatusCode != 200 || got != want {
			return fmt.Errorf("GET %s through NPM: %d %q, want 200 %q", domain, resp.StatusCode, got, want)
		}
		return nil
	}
}

// hostsOn lists the stand-in's proxy hosts that serve domain.
func hostsOn(s *npmstandin.Server, domain string) []npmstandin.Host {
	var out []npmstandin.Host
	for _, h := range s.Hosts() {
		for _, d := range h.DomainNames {
			if d == domain {
				out = append(out, h)
			}
		}
	}
	return out
}

// writes lists the proxy-host writes the stand-in answered, in order.
func writes(s *npmstandin.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet && strings.HasPrefix(r.Path, "/api/nginx/proxy-hosts") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// TestAccNPMBlueGreenSwapsInPlace: through Nginx Proxy Manager, blue-green
// moves the host from blue to green with PUTs only (one POST to create it, no
// DELETE), drops no request, and survives tokens expiring all along the
// apply. Import finds the host; destroy removes it.
func TestAccNPMBlueGreenSwapsInPlace(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	name := env.workloadName("npm")
	domain := name + ".test"
	cfg := func(ref string) string {
		return env.provider(npmBlock(npm)) + routedWorkload(name, domain, "", ref)
	}
	var load *acctest.Run
	stopExpiring := func() {}
	t.Cleanup(func() {
		stopExpiring()
		if load != nil {
			load.Stop()
		}
	})
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			if hosts := hostsOn(npm, domain); len(hosts) != 0 {
				return fmt.Errorf("destroy left the proxy host: %+v", hosts)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:           cfg(env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					// "" resolves to blue-green: the image is routed by a proxy.
					statecheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("blue-green")),
					statecheck.CompareValuePairs(web, tfjsonpath.New("routed_to"), web, tfjsonpath.New("upstream"), compareEqual),
				},
				Check: throughNPM(npm, domain, "v1"),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
			},
			{
				PreConfig: func() {
					load = (&acctest.Load{URL: npm.HTTPURL + "/", Host: domain, Clients: 3, Interval: 5 * time.Millisecond}).Start(context.Background())
					// Every token NPM issued stops working, again and again,
					// all along the apply: the provider must log in again.
					ctx, cancel := context.WithCancel(context.Background())
					stopExpiring = cancel
					go func() {
						for {
							select {
							case <-ctx.Done():
								return
							case <-time.After(250 * time.Millisecond):
								npm.ExpireTokens()
							}
						}
					}()
				},
				Config:           cfg(env.images.V2),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: func(s *terraform.State) error {
					stopExpiring()
					stats := load.Stop()
					load = nil
					t.Logf("v1 -> v2 through NPM: %d requests, %d failed, answers %v; writes %v; logins %d",
						stats.Total, stats.Failed, stats.Bodies, writes(npm), npm.Logins())
					if stats.Failed != 0 {
						return fmt.Errorf("%d requests failed: %v", stats.Failed, stats.FirstFailures)
					}
					expired := 0
					for _, r := range npm.Requests() {
						if r.Status == http.StatusBadRequest && strings.Contains(r.Error, "Token has expired") {
							expired++
						}
					}
					if expired == 0 {
						return fmt.Errorf("no call met an expired token: the test did not test expiry")
					}
					ws := writes(npm)
					if len(ws) < 2 || !strings.HasPrefix(ws[0], "POST ") {
						return fmt.Errorf("writes %v: want one POST, then PUTs", ws)
					}
					for _, w := range ws[1:] {
						if !strings.HasPrefix(w, "PUT ") {
							return fmt.Errorf("writes %v: after the create, only PUTs (no DELETE, no POST)", ws)
						}
					}
					if hosts := hostsOn(npm, domain); len(hosts) != 1 {
						return fmt.Errorf("want one proxy host on %s, got %+v", domain, hosts)
					}
					return throughNPM(npm, domain, "v2")(s)
				},
			},
		},
	})
}

// TestAccNPMRefusedConfigKeepsBlue: nginx refusing green's config
// (nginx_online false) fails the apply with nginx's message, and leaves blue
// routed and serving, alone.
func TestAccNPMRefusedConfigKeepsBlue(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	name := env.workloadName("npmrefuse")
	domain := name + ".test"
	cfg := func(ref string) string {
		return env.provider(npmBlock(npm)) + routedWorkload(name, domain, "blue-green", ref)
	}
	blue := &keptBlue{t: t, workload: name}
	forwardsToBlue := func(*terraform.State) error {
		hosts := hostsOn(npm, domain)
		if len(hosts) != 1 || fmt.Sprintf("%s:%d", hosts[0].ForwardHost, hosts[0].ForwardPort) != blue.upstream {
			return fmt.Errorf("the host does not forward to blue %s: %+v", blue.upstream, hosts)
		}
		return nil
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: append([]resource.TestStep{
			{
				Config:           cfg(env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1)),
				},
				Check: blue.record,
			},
			{
				PreConfig: func() {
					npm.RejectUpstreamsWhere(func(up string) bool { return up != blue.upstream },
						`nginx: [emerg] host not found in upstream "green" in /data/nginx/proxy_host/1.conf:37`)
				},
				Config:      cfg(env.images.V2),
				ExpectError: wrapped("host not found in upstream"),
			},
		}, blue.steps(cfg(env.images.V1), func() { npm.RejectUpstreamsWhere(nil, "") },
			throughNPM(npm, domain, "v1"), forwardsToBlue)...),
	})
}

// TestAccNPMTraps: a create answering 500 (stored anyway) is not created
// twice; a host on the domain that the provider did not create is refused,
// naming the domain.
func TestAccNPMTraps(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	stored := env.workloadName("npm500")
	foreign := env.workloadName("npmforeign")
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, stored, foreign),
		Steps: []resource.TestStep{
			{
				PreConfig:        func() { npm.FailWritesAfterStoring(1) },
				Config:           env.provider(npmBlock(npm)) + routedWorkload(stored, stored+".test", "", env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					throughNPM(npm, stored+".test", "v1"),
					func(*terraform.State) error {
						if hosts := hostsOn(npm, stored+".test"); len(hosts) != 1 {
							return fmt.Errorf("after a 500 on create, want one host, got %+v (writes %v)", hosts, writes(npm))
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					npm.SeedHost([]string{foreign + ".test"}, "127.0.0.1", 9, nil)
				},
				Config: env.provider(npmBlock(npm)) + strings.Replace(
					routedWorkload(foreign, foreign+".test", "", env.images.V1), `resource "tinyforge_workload" "web"`, `resource "tinyforge_workload" "other"`, 1),
				ExpectError: wrapped(foreign + ".test"),
			},
		},
	})
	if hosts := hostsOn(npm, foreign+".test"); len(hosts) != 1 || hosts[0].ForwardPort != 9 {
		t.Fatalf("the foreign host was touched: %+v", hosts)
	}
}

// npmAPI edits NPM by hand, as a user of its UI would.
func npmAPI(t *testing.T, s *npmstandin.Server, method, path string, body any) {
	t.Helper()
	login, _ := json.Marshal(map[string]string{"identity": npmEmail, "secret": npmPassword})
	resp, err := http.Post(s.URL+"/api/tokens", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	var payload bytes.Buffer
	if body != nil {
		json.NewEncoder(&payload).Encode(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, &payload)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
}

// TestAccNPMRouteDrift: a host edited or deleted by hand shows in the plan,
// and the apply restores it.
func TestAccNPMRouteDrift(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	name := env.workloadName("npmdrift")
	domain := name + ".test"
	cfg := env.provider(npmBlock(npm)) + routedWorkload(name, domain, "", env.images.V1)
	hostPath := func() string {
		hosts := hostsOn(npm, domain)
		if len(hosts) != 1 {
			t.Fatalf("hosts on %s: %+v", domain, hosts)
		}
		return fmt.Sprintf("/api/nginx/proxy-hosts/%d", hosts[0].ID)
	}
	fixed := []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
		plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1)),
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			{Config: cfg, ConfigPlanChecks: emptyPlanAfterApply(), Check: throughNPM(npm, domain, "v1")},
			{
				PreConfig:        func() { npmAPI(t, npm, http.MethodPut, hostPath(), map[string]any{"forward_port": 9}) },
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(fixed...),
				Check:            throughNPM(npm, domain, "v1"),
			},
			{
				PreConfig:        func() { npmAPI(t, npm, http.MethodDelete, hostPath(), nil) },
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(fixed...),
				Check:            throughNPM(npm, domain, "v1"),
			},
		},
	})
}

// TestAccNPMForwardsOnTheNetwork: with forward_to = "network", NPM forwards
// to the container's name and port on the provider's network, as the
// original Tinyforge does.
func TestAccNPMForwardsOnTheNetwork(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	npm := npmstandin.New(t, npmEmail, npmPassword)
	name := env.workloadName("npmnet")
	domain := name + ".test"
	block := strings.Replace(npmBlock(npm), `forward_to = "published"`, `forward_to = "network"`, 1)
	// The stand-in's nginx runs on the host and cannot resolve container
	// names, so there is no probe through it here.
	block = strings.Replace(block, fmt.Sprintf("      http_url   = %q\n", npm.HTTPURL), "", 1)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{{
			Config:           env.provider(block) + routedWorkload(name, domain, "", env.images.V1),
			ConfigPlanChecks: emptyPlanAfterApply(),
			Check: func(s *terraform.State) error {
				container, err := stateAttr(s, web, "container_name")
				if err != nil {
					return err
				}
				if up, _ := stateAttr(s, web, "upstream"); up != container+":8080" {
					return fmt.Errorf("upstream %q, want %s:8080", up, container)
				}
				hosts := hostsOn(npm, domain)
				if len(hosts) != 1 || hosts[0].ForwardHost != container || hosts[0].ForwardPort != 8080 {
					return fmt.Errorf("host %+v does not forward to %s:8080", hosts, container)
				}
				return nil
			},
		}},
	})
}
