package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// hostsThrough sends n requests for domain through Caddy and counts the
// answers by the container that gave them (the test app's
// X-Testapp-Host header) and by body.
func hostsThrough(c *acctest.Caddy, domain string, n int) (map[string]int, map[string]int, error) {
	hosts, bodies := map[string]int{}, map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range n {
		req, _ := http.NewRequest(http.MethodGet, c.HTTPURL+"/", nil)
		req.Host = domain
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		var b strings.Builder
		buf := make([]byte, 64)
		k, _ := resp.Body.Read(buf)
		b.Write(buf[:k])
		resp.Body.Close()
		hosts[resp.Header.Get("X-Testapp-Host")]++
		bodies[strings.TrimSpace(b.String())]++
	}
	return hosts, bodies, nil
}

// runningIDs lists the IDs of the workload's running containers.
func runningIDs(t *testing.T, workload string) []string {
	ids := strings.Fields(acctest.Docker(t, "ps", "-q", "--no-trunc", "--filter", "label=tinyforge.workload="+workload))
	slices.Sort(ids)
	return ids
}

// TestAccReplicas runs 3 replicas behind Caddy: answers spread over all of
// them; a blue-green redeploy under load fails no request and ends with 3
// new replicas; a replica removed by hand shows in the plan and is replaced
// without touching the others or raising the generation; scaling down
// keeps the generation; more than one replica is refused with NPM and with
// a fixed host port.
func TestAccReplicas(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("replicas")
	domain := name + ".test"
	cfg := func(ref string, replicas int) string {
		return env.provider(caddyBlock(caddy)) + strings.Replace(routedWorkload(name, domain, "blue-green", ref),
			"drain_timeout   = 1", fmt.Sprintf("drain_timeout   = 1\n  replicas        = %d", replicas), 1)
	}
	spread := func(want int, body string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			return settled(func() error {
				hosts, bodies, err := hostsThrough(caddy, domain, 30)
				if err != nil {
					return err
				}
				if len(hosts) != want || len(bodies) != 1 || bodies[body] == 0 {
					return fmt.Errorf("30 requests through Caddy reached %v answering %v; want %d replicas answering %q", hosts, bodies, want, body)
				}
				return nil
			})
		}
	}
	load := newLoadDuring(t, caddy, domain)
	var before []string
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             resource.ComposeTestCheckFunc(noContainersLeft(t, name), func(*terraform.State) error { return noRoute(t, caddy, name) }),
		Steps: []resource.TestStep{
			{
				Config:      env.provider(caddyBlock(caddy)) + imageWorkload(name, env.images.V2, "  replicas = 2\n  host_port = 18080"),
				PlanOnly:    true,
				ExpectError: wrapped("replicas 2 cannot share host_port 18080"),
			},
			{
				Config:           cfg(env.images.V1, 3),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("replicas_running"), knownvalue.Int64Exact(3)),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("upstreams"), knownvalue.ListSizeExact(3)),
				},
				Check: spread(3, "v1"),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
			},
			{ // blue-green of 3 replicas under load: no request fails
				PreConfig:        func() { before = runningIDs(t, name); load.start() },
				Config:           cfg(env.images.V2, 3),
				ConfigPlanChecks: emptyPlanAfterApply(plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2))),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						stats := load.stop()
						t.Logf("3 replicas v1 -> v2 under load: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
						if stats.Failed != 0 || stats.Total == 0 {
							return fmt.Errorf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
						}
						now := runningIDs(t, name)
						if len(now) != 3 || slices.ContainsFunc(now, func(id string) bool { return slices.Contains(before, id) }) {
							return fmt.Errorf("containers %v -> %v: want 3 new ones", before, now)
						}
						return nil
					},
					spread(3, "v2"),
				),
			},
			{ // a replica removed by hand: replaced, the others untouched, same generation
				PreConfig: func() {
					before = runningIDs(t, name)
					acctest.Docker(t, "rm", "-f", before[0])
				},
				Config: cfg(env.images.V2, 3),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("replicas_running"), knownvalue.Int64Exact(3)),
				),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						now := runningIDs(t, name)
						if len(now) != 3 || !slices.Contains(now, before[1]) || !slices.Contains(now, before[2]) {
							return fmt.Errorf("containers %v -> %v: want the two healthy ones kept and one new", before, now)
						}
						return nil
					},
					spread(3, "v2"),
				),
			},
			{ // scaling down keeps the generation
				Config: cfg(env.images.V2, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2))},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{statecheck.ExpectKnownValue(web, tfjsonpath.New("replicas_running"), knownvalue.Int64Exact(2))},
				Check:             spread(2, "v2"),
			},
		},
	})
	npm := npmstandin.New(t, npmEmail, npmPassword)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		Steps: []resource.TestStep{{
			Config: env.provider(npmBlock(npm)) + strings.Replace(routedWorkload(env.workloadName("npmrep"), "npmrep.test", "", env.images.V1),
				"drain_timeout   = 1", "drain_timeout   = 1\n  replicas        = 2", 1),
			PlanOnly:    true,
			ExpectError: wrapped("replicas 2 needs a proxy that balances", "Nginx Proxy Manager forwards a host to one target"),
		}},
	})
}

// TestAccContainerSettings: every container setting reaches the engine,
// reads back (refresh and import) with no diff against the engine's
// defaults, and a change redeploys; the provider's label keys are refused.
func TestAccContainerSettings(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("settings")
	cfg := func(memory int) string {
		return env.provider("") + imageWorkload(name, env.images.V1, fmt.Sprintf(`
  memory       = %d
  cpus         = 0.5
  restart      = "on-failure"
  entrypoint   = ["/testapp"]
  command      = ["serve", "--quietly"]
  user         = "65534:65534"
  working_dir  = "/tmp"
  labels       = { team = "web", "example.com/tier" = "front" }
  stop_signal  = "SIGINT"
  stop_timeout = 4`, memory))
	}
	inspect := func(format string) string {
		id := strings.TrimSpace(acctest.Docker(t, "ps", "-q", "--filter", "label=tinyforge.workload="+name))
		return acctest.Docker(t, "inspect", "--format", format, id)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			{
				Config:      env.provider("") + imageWorkload(name, env.images.V1, `  labels = { "tinyforge.workload" = "other" }`),
				PlanOnly:    true,
				ExpectError: wrapped(`labels key "tinyforge.workload" is under "tinyforge."`),
			},
			{
				Config:           cfg(64),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					answers(web, "/", "v1"),
					func(*terraform.State) error {
						got := inspect(`{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{.Config.WorkingDir}} {{index .Config.Labels "team"}} {{index .Config.Labels "example.com/tier"}} {{.Config.StopSignal}} {{.Config.StopTimeout}}`)
						want := `67108864 500000000 on-failure ["/testapp"] ["serve","--quietly"] 65534:65534 /tmp web front SIGINT 4`
						if got != want {
							return fmt.Errorf("the container has %q, want %q", got, want)
						}
						var labels map[string]string
						json.Unmarshal([]byte(inspect("{{json .Config.Labels}}")), &labels)
						if labels["tinyforge.workload"] != name {
							return fmt.Errorf("the provider's labels are missing: %v", labels)
						}
						return nil
					},
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
			},
			{
				Config: cfg(96),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				),
				Check: func(*terraform.State) error {
					if got := inspect("{{.HostConfig.Memory}}"); got != "100663296" {
						return fmt.Errorf("memory %s after the change, want 96 MiB", got)
					}
					return nil
				},
			},
		},
	})
}
