package provider

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccPrivateRegistry pulls from a registry that asks for a login: with
// a registry_auth block the deploy pulls; without a login the deploy fails
// naming the registry and the running version serves on; a Docker config
// file's auths work as the docker CLI's do.
func TestAccPrivateRegistry(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	registry := acctest.StartRegistry(t)
	name := env.workloadName("private")
	repo := "tinyforge/private-" + acctest.RunID()
	v1 := registry.Push(t, env.images.V1, repo+":v1")
	v2 := registry.Push(t, env.images.V2, repo+":v2")
	t.Cleanup(func() { acctest.DockerE("rmi", "-f", v1, v2) })
	const user, secret = "deployer", "s3cret-registry-pass"
	registry.RequireLogin(user, secret)

	configFile := filepath.Join(t.TempDir(), "config.json")
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
	if err := os.WriteFile(configFile, []byte(fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, registry.Addr, basic)), 0o600); err != nil {
		t.Fatal(err)
	}
	withLogin := fmt.Sprintf(`  docker_config_file = ""
  registry_auth {
    address  = %q
    username = %q
    password = %q
  }
`, registry.Addr, user, secret)
	noLogin := "  docker_config_file = \"\"\n"
	withFile := fmt.Sprintf("  docker_config_file = %q\n", configFile)
	cfg := func(auth, ref string) string {
		return env.provider(auth) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}`, name, ref)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			{ // a registry_auth block: the pull logs in
				Config:           cfg(withLogin, v1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            answers(web, "/", "v1"),
			},
			{ // no login: the deploy fails naming the registry
				Config:      cfg(noLogin, v2),
				ExpectError: wrapped("registry "+registry.Addr+" asks for credentials", "none are configured for it"),
			},
			{ // v1 serves on and the state still says v1
				RefreshState:       true,
				Check:              answers(web, "/", "v1"),
				ExpectNonEmptyPlan: true, // v2 is still waiting to be deployed
				RefreshPlanChecks: resource.RefreshPlanChecks{PostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("source").AtMapKey("image").AtMapKey("ref"), knownvalue.StringExact(v2)),
				}},
			},
			{ // the Docker config file's login pulls v2
				Config:           cfg(withFile, v2),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            answers(web, "/", "v2"),
			},
		},
	})
}
