package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

const web = "tinyforge_workload.web"

// imageWorkload is a workload of an image source; body goes inside the
// resource block, after name and before source.
func imageWorkload(name, ref, body string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
%s
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, body, ref)
}

// TestAccWorkloadLifecycle walks one image workload through create, import,
// a redeploy, drift by hand (stopped, removed, strays) and destroy.
func TestAccWorkloadLifecycle(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("life")
	v1 := env.provider("") + imageWorkload(name, env.images.V1, `  env = { GREETING = "hello" }`)
	v1Changed := env.provider("") + imageWorkload(name, env.images.V1, `  env = { GREETING = "bonjour" }`)

	var firstID, secondID string
	remember := func(into *string) resource.TestCheckFunc {
		return func(s *terraform.State) (err error) { *into, err = stateAttr(s, web, "container_id"); return err }
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			// The network stays: other workloads may use it.
			if out, err := acctest.DockerE("network", "inspect", "--format", `{{index .Labels "tinyforge.managed"}}`, env.network); err != nil || out != "true" {
				return fmt.Errorf("network %s after destroy: %q %v", env.network, out, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{ // create: the container answers, with its env
				Config: v1,
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("recreate")),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("id"), knownvalue.StringExact(name)),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("stray_containers"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("routed_to"), knownvalue.Null()),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("upstream"), knownvalue.StringRegexp(regexp.MustCompile(`^127\.0\.0\.1:\d+$`))),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("container_name"), knownvalue.StringRegexp(regexp.MustCompile("^"+name+`-1-[0-9a-f]{12}$`))),
				},
				Check: resource.ComposeTestCheckFunc(
					answers(web, "/", "v1"),
					answers(web, "/env/GREETING", "hello"),
					remember(&firstID),
					labelsKeepSecretsOut(t, "hello"),
				),
			},
			{ // import by name: every attribute comes back from the Docker host
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
			},
			{ // an import {} block with the matching config plans the import and nothing else
				Config:          v1,
				ResourceName:    web,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
				ImportStateId:   name,
			},
			{ // a new env value is a redeploy: generation 2, the old container gone
				Config: v1Changed,
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
					plancheck.ExpectUnknownValue(web, tfjsonpath.New("container_id")),
				),
				Check: resource.ComposeTestCheckFunc(
					answers(web, "/env/GREETING", "bonjour"),
					remember(&secondID),
					func(*terraform.State) error {
						if secondID == firstID {
							return fmt.Errorf("no new container")
						}
						if names := containersOf(t, name); len(names) != 1 {
							return fmt.Errorf("want exactly the new container, got %v", names)
						}
						if _, err := acctest.DockerE("inspect", firstID); err == nil {
							return fmt.Errorf("the old container %s is still there", firstID)
						}
						return nil
					},
				),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				},
			},
			{ // stopped by hand: the plan shows it, the apply runs it again
				PreConfig: func() { acctest.Docker(t, "stop", secondID) },
				Config:    v1Changed,
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(3)),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("status"), knownvalue.StringExact("running")),
				},
				Check: resource.ComposeTestCheckFunc(answers(web, "/", "v1"), onlyContainer(t, name)),
			},
			{ // removed by hand: same
				PreConfig: func() {
					acctest.Docker(t, append([]string{"rm", "-f"}, strings.Fields(acctest.Docker(t, "ps", "-aq", "--filter", "label=tinyforge.workload="+name))...)...)
				},
				Config: v1Changed,
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(4)),
				),
				Check: resource.ComposeTestCheckFunc(answers(web, "/", "v1"), onlyContainer(t, name)),
			},
			{ // strays (an older running container, a created-never-started newer one):
				// the plan lists them, the apply removes them and leaves the live one alone
				PreConfig: func() {
					live := strings.TrimSpace(acctest.Docker(t, "ps", "-q", "--filter", "label=tinyforge.workload="+name))
					makeStray(t, live, name+"-stray-old", 1, true)
					makeStray(t, live, name+"-stray-new", 99, false)
				},
				Config: v1Changed,
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("stray_containers"), knownvalue.ListSizeExact(0)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(4)),
				),
				Check: resource.ComposeTestCheckFunc(answers(web, "/", "v1"), onlyContainer(t, name)),
			},
		},
	})
}

// onlyContainer checks that the workload has exactly its live container.
func onlyContainer(t *testing.T, workload string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		want, err := stateAttr(s, web, "container_name")
		if err != nil {
			return err
		}
		if names := containersOf(t, workload); len(names) != 1 || names[0] != want {
			return fmt.Errorf("want only %s, the engine has %v", want, names)
		}
		return nil
	}
}

// makeStray starts (or only creates) a container labelled as a generation of
// the workload, as an interrupted deploy would leave behind.
func makeStray(t *testing.T, liveID, name string, gen int, start bool) {
	t.Helper()
	raw := acctest.Docker(t, "inspect", "--format", "{{json .Config.Labels}}", liveID)
	var labels map[string]string
	if err := json.Unmarshal([]byte(raw), &labels); err != nil {
		t.Fatal(err)
	}
	labels["tinyforge.generation"] = fmt.Sprint(gen)
	args := []string{"create", "--name", name, "--label", acctest.LabelTestRun + "=" + acctest.RunID()}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	image := acctest.Docker(t, "inspect", "--format", "{{.Image}}", liveID)
	acctest.Docker(t, append(args, image)...)
	if start {
		acctest.Docker(t, "start", name)
	}
}

// labelsKeepSecretsOut checks that no label of the workload's container
// carries an env value.
func labelsKeepSecretsOut(t *testing.T, secret string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, web, "container_id")
		if err != nil {
			return err
		}
		labels := acctest.Docker(t, "inspect", "--format", "{{json .Config.Labels}}", id)
		if strings.Contains(labels, secret) {
			return fmt.Errorf("a label carries an env value: %s", labels)
		}
		if !strings.Contains(labels, `GREETING`) {
			return fmt.Errorf("the env names are not recorded for import: %s", labels)
		}
		return nil
	}
}

// TestAccWorkloadFailedGate: a container that fails its gate fails the apply
// with the probe's last answer and its log lines, and nothing is left
// running.
func TestAccWorkloadFailedGate(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	unhealthy := env.workloadName("unhealthy")
	crashing := env.workloadName("crashing")
	// A failed step runs no Check: each claim is asserted in the PreConfig
	// of the step after it.
	nothingLeftOf := func(workloads ...string) func() {
		return func() {
			t.Helper()
			for _, w := range workloads {
				if names := containersOf(t, w); len(names) > 0 {
					t.Fatalf("the failed deploy of %s left containers: %v", w, names)
				}
			}
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, unhealthy, crashing),
		Steps: []resource.TestStep{
			{
				Config: env.provider("") + imageWorkload(unhealthy, env.images.FailHealth, `  health_timeout = 3`),
				ExpectError: wrapped("failed its gate: GET http://127.0.0.1:", "/healthz did not answer 2xx/3xx within 3s",
					`last answer: HTTP 500 "unhealthy"`, "last log lines", "health check failing on purpose"),
			},
			{
				PreConfig: nothingLeftOf(unhealthy),
				Config: env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}
`, crashing, env.images.Crash),
				ExpectError: wrapped("did not stay up for the 3s liveness window", "last log lines", "testapp v1 listening"),
			},
			{ // nothing of either workload is left on the engine, nor in the state
				PreConfig: nothingLeftOf(unhealthy, crashing),
				Config:    env.provider(""),
				PlanOnly:  true,
			},
		},
	})
	if names := append(containersOf(t, unhealthy), containersOf(t, crashing)...); len(names) > 0 {
		t.Fatalf("failed deploys left containers: %v", names)
	}
}

// TestAccWorkloadVolumesAndHostPort: a named volume keeps its data across a
// redeploy and outlives destroy; a bind mount and a fixed host port work and
// import back.
func TestAccWorkloadVolumesAndHostPort(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("vol")
	volume := acctest.UniqueName("tf-vol")
	t.Cleanup(func() { acctest.DockerE("volume", "rm", "-f", volume) })
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := acctest.FreePort(t)
	cfg := func(greeting string) string {
		return env.provider("") + imageWorkload(name, env.images.V1, fmt.Sprintf(`
  env       = { GREETING = %q }
  host_port = %d
  volume {
    source = %q
    target = "/data"
  }
  volume {
    source    = %q
    target    = "/host"
    read_only = true
  }`, greeting, port, volume, hostDir))
	}
	upstream := fmt.Sprintf("127.0.0.1:%d", port)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			if _, err := acctest.DockerE("volume", "inspect", volume); err != nil {
				return fmt.Errorf("destroy removed the named volume (it is data): %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:           cfg("one"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("upstream"), knownvalue.StringExact(upstream)),
				},
				Check: resource.ComposeTestCheckFunc(
					answers(web, "/file?path=/host/hello", "from the host"),
					func(*terraform.State) error {
						req, _ := http.NewRequest(http.MethodPut, "http://"+upstream+"/file?path=/data/kept", strings.NewReader("still here"))
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							return err
						}
						resp.Body.Close()
						if resp.StatusCode/100 != 2 {
							return fmt.Errorf("write into the volume: HTTP %d", resp.StatusCode)
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
			{ // a redeploy mounts the same volume: the data is still there
				Config:           cfg("two"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("upstream"), knownvalue.StringExact(upstream)),
				},
				Check: resource.ComposeTestCheckFunc(
					answers(web, "/file?path=/data/kept", "still here"),
					answers(web, "/env/GREETING", "two"),
				),
			},
		},
	})
}

// TestAccPullNeverNeedsTheImage: with pull = "never", a missing image fails
// the apply clearly, before anything runs.
func TestAccPullNeverNeedsTheImage(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("nopull")
	missing := "tinyforge-acctest/absent:" + acctest.RunID()
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{{
			Config: env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    image {
      ref  = %q
      port = 8080
      pull = "never"
    }
  }
}`, name, missing),
			ExpectError: wrapped(fmt.Sprintf(`image %q is not on the Docker host and pull is "never"`, missing)),
		}},
	})
}

// TestAccPullPolicies pulls from a real registry on 127.0.0.1: "missing"
// pulls an image the engine lacks but not one it has, even after the tag
// moved in the registry; "always" pulls on every deploy and picks up the
// moved tag.
func TestAccPullPolicies(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	registry := acctest.StartRegistry(t)
	name := env.workloadName("pull")
	ref := registry.Push(t, env.images.V1, "tinyforge/pull-"+acctest.RunID()+":stable")
	t.Cleanup(func() { acctest.DockerE("rmi", "-f", ref) })
	cfg := func(pull, greeting string) string {
		return env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  env  = { GREETING = %q }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
      pull        = %q
    }
  }
}`, name, greeting, ref, pull)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			{ // the engine lacks the image: "missing" pulls it
				Config:           cfg("missing", "one"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            answers(web, "/", "v1"),
			},
			{ // the tag moves to v2 in the registry; "missing" keeps the local v1
				PreConfig:        func() { registry.Push(t, env.images.V2, "tinyforge/pull-"+acctest.RunID()+":stable") },
				Config:           cfg("missing", "two"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            answers(web, "/", "v1"),
			},
			{ // "always" pulls on the deploy and gets the moved tag
				Config:           cfg("always", "three"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            answers(web, "/", "v2"),
			},
		},
	})
}
