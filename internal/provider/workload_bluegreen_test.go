package provider

import (
	"context"
	"fmt"
	"net/http"
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
)

// routedWorkload is a workload behind the proxy on domain, by strategy.
func routedWorkload(name, domain, strategy, ref string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
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
`, name, strategy, domain, ref)
}

// through checks that Caddy routes domain to a container answering want,
// once Caddy has settled on its last config.
func through(c *acctest.Caddy, domain, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return settled(func() error {
			status, body, err := c.GetE(domain, "/")
			if err != nil || status != 200 || strings.TrimSpace(body) != want {
				return fmt.Errorf("GET %s through Caddy: %d %q %v, want 200 %q", domain, status, clip(body), err, want)
			}
			return nil
		})
	}
}

// settled asks check again until it passes, for up to 10 s, and returns
// its last error. Caddy answers a config write before the server of the
// config before has stopped: for a moment that server may still answer,
// or reset, a new connection with the old routes.
func settled(check func() error) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := check(); err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// noRoute checks that Caddy has no route of the workload any more.
func noRoute(t *testing.T, c *acctest.Caddy, workload string) error {
	if routes := c.AdminGet(t, "/config/apps/http/servers/tinyforge/routes"); strings.Contains(routes, `"tinyforge-`+workload+`"`) {
		return fmt.Errorf("the route of %s survived destroy: %s", workload, routes)
	}
	return nil
}

// loadDuring runs a load through Caddy from PreConfig to Check of one step.
type loadDuring struct {
	t      *testing.T
	caddy  *acctest.Caddy
	domain string
	mu     sync.Mutex
	run    *acctest.Run
	stats  acctest.Stats
	ended  time.Time
}

func newLoadDuring(t *testing.T, c *acctest.Caddy, domain string) *loadDuring {
	l := &loadDuring{t: t, caddy: c, domain: domain}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *loadDuring) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	load := &acctest.Load{URL: l.caddy.HTTPURL + "/", Host: l.domain, Clients: 4, Timeout: 5 * time.Second, Interval: 5 * time.Millisecond}
	l.run = load.Start(context.Background())
}

// stop ends the load (the apply has returned) and keeps its stats.
func (l *loadDuring) stop() acctest.Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		l.ended = time.Now()
		// A little traffic after the apply: at least 300 ms and a few
		// answers (a loaded host may take longer than 300 ms to give any),
		// at most 10 s.
		before := l.run.Answers()
		time.Sleep(300 * time.Millisecond)
		for deadline := time.Now().Add(10 * time.Second); l.run.Answers() < before+10 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		l.stats = l.run.Stop()
		l.run = nil
	}
	return l.stats
}

// TestAccBlueGreenDropsNoRequest moves v1 to v2 under continuous traffic
// through a real Caddy: blue-green must fail no request and answer only v1 or
// v2, then only v2. The same move with recreate must fail some requests:
// that proves the load can see downtime at all.
func TestAccBlueGreenDropsNoRequest(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	for _, strategy := range []string{"blue-green", "recreate"} {
		t.Run(strategy, func(t *testing.T) {
			name := env.workloadName("zd")
			domain := name + ".test"
			load := newLoadDuring(t, caddy, domain)
			cfg := func(ref string) string {
				return env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, strategy, ref)
			}
			accTest(t, resource.TestCase{
				ProtoV6ProviderFactories: providerFactories,
				CheckDestroy: func(s *terraform.State) error {
					if err := noContainersLeft(t, name)(s); err != nil {
						return err
					}
					return noRoute(t, caddy, name)
				},
				Steps: []resource.TestStep{
					{
						Config:           cfg(env.images.V1),
						ConfigPlanChecks: emptyPlanAfterApply(),
						ConfigStateChecks: []statecheck.StateCheck{
							statecheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact(strategy)),
							statecheck.CompareValuePairs(web, tfjsonpath.New("routed_to"), web, tfjsonpath.New("upstream"), compareEqual),
						},
						Check: through(caddy, domain, "v1"),
					},
					{
						PreConfig:        load.start,
						Config:           cfg(env.images.V2),
						ConfigPlanChecks: emptyPlanAfterApply(),
						Check: func(s *terraform.State) error {
							stats := load.stop()
							after := stats.Window(load.ended, stats.End)
							t.Logf("%s v1 -> v2 under load: %d requests, %d failed, answers %v, first failures %v; after the apply: %v",
								strategy, stats.Total, stats.Failed, stats.Bodies, stats.FirstFailures, after.Bodies)
							for body := range stats.Bodies {
								if body != "v1" && body != "v2" {
									return fmt.Errorf("an answer was neither v1 nor v2: %q", body)
								}
							}
							if after.Bodies["v1"] > 0 || after.Bodies["v2"] == 0 {
								return fmt.Errorf("after the apply, answers %v: want only v2", after.Bodies)
							}
							if stats.Total < 100 {
								return fmt.Errorf("only %d requests: the load did not run", stats.Total)
							}
							switch strategy {
							case "blue-green":
								if stats.Failed != 0 {
									return fmt.Errorf("blue-green failed %d of %d requests: %v", stats.Failed, stats.Total, stats.FirstFailures)
								}
							case "recreate":
								if stats.Failed == 0 {
									return fmt.Errorf("recreate failed no request: the load cannot see downtime")
								}
							}
							return through(caddy, domain, "v2")(s)
						},
					},
				},
			})
		})
	}
}

// TestAccBlueGreenFailedGateKeepsBlue: a green that fails its gate fails
// the apply; v1 still answers through Caddy and no green container remains.
func TestAccBlueGreenFailedGateKeepsBlue(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("gate")
	domain := name + ".test"
	cfg := func(ref string) string {
		return env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, "blue-green", ref)
	}
	blue := &keptBlue{t: t, workload: name}
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
				Check: resource.ComposeTestCheckFunc(through(caddy, domain, "v1"), blue.record),
			},
			{
				Config:      strings.Replace(cfg(env.images.FailHealth), "health_timeout  = 20", "health_timeout  = 3", 1),
				ExpectError: wrapped("failed its gate", `HTTP 500 "unhealthy"`, "health check failing on purpose"),
			},
		}, blue.steps(cfg(env.images.V1), nil, through(caddy, domain, "v1"))...),
	})
}

// TestAccRouteDriftIsRestored: a route deleted or pointed elsewhere by hand
// shows in the plan, and the apply restores it.
func TestAccRouteDriftIsRestored(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("drift")
	domain := name + ".test"
	cfg := env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, "blue-green", env.images.V1)
	routeID := "tinyforge-" + name
	admin := func(method, path, body string) {
		req, _ := http.NewRequest(method, caddy.AdminURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
	}
	fixed := []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
		// the route is fixed in place: no new container
		plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1)),
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			return noRoute(t, caddy, name)
		},
		Steps: []resource.TestStep{
			{Config: cfg, ConfigPlanChecks: emptyPlanAfterApply(), Check: through(caddy, domain, "v1")},
			{
				PreConfig:        func() { admin(http.MethodDelete, "/id/"+routeID, "") },
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(fixed...),
				Check:            through(caddy, domain, "v1"),
			},
			{
				PreConfig:        func() { admin(http.MethodPatch, "/id/"+routeID+"/handle/0/upstreams/0/dial", `"127.0.0.1:9"`) },
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(fixed...),
				Check:            through(caddy, domain, "v1"),
			},
		},
	})
}

// TestAccParallelWorkloadsAreAllRouted applies a dozen workloads at once
// (terraform's parallelism is 10): every route must land in Caddy.
func TestAccParallelWorkloadsAreAllRouted(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	const n = 12
	prefix := acctest.UniqueName("par")
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
		env.cleanUp(names[i])
	}
	cfg := env.provider(caddyBlock(caddy)) + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  count   = %d
  name    = "%s-${count.index}"
  domains = ["%s-${count.index}.test"]
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, n, prefix, prefix, env.images.V1)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, names...),
		Steps: []resource.TestStep{{
			Config:           cfg,
			ConfigPlanChecks: emptyPlanAfterApply(),
			Check: func(*terraform.State) error {
				for i := 0; i < n; i++ {
					if err := through(caddy, fmt.Sprintf("%s-%d.test", prefix, i), "v1")(nil); err != nil {
						return err
					}
				}
				routes := caddy.AdminGet(t, "/config/apps/http/servers/tinyforge/routes")
				if got := strings.Count(routes, `"@id":"tinyforge-`+prefix); got != n {
					return fmt.Errorf("%d routes in Caddy, want %d: %s", got, n, routes)
				}
				return nil
			},
		}},
	})
}

// TestAccSwitchStrategies moves a routed workload from recreate to
// blue-green and back, redeploying each time.
func TestAccSwitchStrategies(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("switch")
	domain := name + ".test"
	cfg := func(strategy, ref string) string {
		return env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, strategy, ref)
	}
	step := func(strategy, ref, want string, gen int64) resource.TestStep {
		return resource.TestStep{
			Config:           cfg(strategy, ref),
			ConfigPlanChecks: emptyPlanAfterApply(),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact(strategy)),
				statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(gen)),
			},
			Check: resource.ComposeTestCheckFunc(through(caddy, domain, want), onlyContainer(t, name)),
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			step("recreate", env.images.V1, "v1", 1),
			step("blue-green", env.images.V2, "v2", 2),
			step("recreate", env.images.V3, "v3", 3),
			{ // the strategy alone changes no container
				Config: cfg("blue-green", env.images.V3),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(3)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("blue-green")),
				),
				Check: through(caddy, domain, "v3"),
			},
		},
	})
}
