package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccWorkloadDataSource reads workloads by name: one deployed by a
// resource of the same configuration (read after its deploy, through
// depends_on), one deployed by another Terraform state, and a name that is
// not deployed, which fails the plan naming it.
func TestAccWorkloadDataSource(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	here, elsewhere := env.workloadName("dsrc"), env.workloadName("dsrc-other")
	missing := acctest.UniqueName("dsrc-none")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Another state deploys a workload twice (generation 2, v2).
	other := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { other.Destroy(context.Background()) })
	for _, ref := range []string{env.images.V1, env.images.V2} {
		other.WriteConfig(tfConfig(env.provider(caddyBlock(caddy)) + routedWorkload(elsewhere, elsewhere+".test", "", ref)))
		res, err := other.Apply(ctx)
		mustSucceed(t, "the other state: apply "+ref, res, err)
	}

	cfg := env.provider(caddyBlock(caddy)) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name          = %q
  domains       = [%q]
  drain_timeout = 1
  env           = { GREETING = "hello" }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}

data "tinyforge_workload" "same" {
  name       = tinyforge_workload.web.name
  depends_on = [tinyforge_workload.web]
}

data "tinyforge_workload" "other" {
  name = %q
}

output "other_upstream" {
  value = data.tinyforge_workload.other.upstream
}
`, here, here+".test", env.images.V1, elsewhere)

	same, otherData := "data.tinyforge_workload.same", "data.tinyforge_workload.other"
	equal := func(attr string) statecheck.StateCheck {
		return statecheck.CompareValuePairs(same, tfjsonpath.New(attr), web, tfjsonpath.New(attr), compareEqual)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, here),
		Steps: []resource.TestStep{
			{ // a name that is not deployed: a clear error naming it
				Config:      env.provider(caddyBlock(caddy)) + fmt.Sprintf("data \"tinyforge_workload\" \"x\" {\n  name = %q\n}\n", missing),
				ExpectError: wrapped("No workload named "+missing, fmt.Sprintf("name = %q: no container", missing), "tinyforge.workload="+missing),
			},
			{
				Config:           cfg,
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					// The resource's own view and the data source's agree.
					equal("upstream"), equal("container_id"), equal("container_name"), equal("image_id"),
					equal("generation"), equal("domains"), equal("status"), equal("owner"),
					equal("effective_strategy"), equal("routed_to"), equal("commit_sha"),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("id"), knownvalue.StringExact(here)),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("source_kind"), knownvalue.StringExact("image")),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("image"), knownvalue.StringExact(env.images.V1)),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("blue-green")),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("domains"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(here + ".test")})),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("upstreams"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("containers"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("stray_containers"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(same, tfjsonpath.New("services"), knownvalue.Null()),

					// The other state's workload, by name.
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("image"), knownvalue.StringExact(env.images.V2)),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("commit_sha"), knownvalue.Null()),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("domains"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(elsewhere + ".test")})),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("blue-green")),
					statecheck.ExpectKnownValue(otherData, tfjsonpath.New("container_name"), knownvalue.StringRegexp(regexp.MustCompile("^"+elsewhere+`-2-`))),
					statecheck.CompareValuePairs(otherData, tfjsonpath.New("upstream"), otherData, tfjsonpath.New("routed_to"), compareEqual),
					statecheck.CompareValuePairs(otherData, tfjsonpath.New("owner"), same, tfjsonpath.New("owner"), differentValues{}),
				},
				Check: resource.ComposeTestCheckFunc(
					answers(same, "/", "v1"),
					answers(otherData, "/", "v2"),
					otherMatchesDocker(t, otherData, elsewhere),
				),
			},
		},
	})
}

// otherMatchesDocker checks the data source's container and image against
// what the docker CLI reports of the workload.
func otherMatchesDocker(t *testing.T, res, workload string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, res, "container_id")
		if err != nil {
			return err
		}
		ids := liveIDs(t, workload)
		if len(ids) != 1 || ids[0] != id {
			return fmt.Errorf("%s.container_id = %s, the engine has %v", res, id, ids)
		}
		image, _ := stateAttr(s, res, "image_id")
		if got := acctest.Docker(t, "inspect", "--format", "{{.Image}}", id); got != image {
			return fmt.Errorf("%s.image_id = %s, the container runs %s", res, image, got)
		}
		return nil
	}
}

// differentValues is a compare.ValueComparer that wants two different
// values.
type differentValues struct{}

func (differentValues) CompareValues(values ...any) error {
	if len(values) != 2 || fmt.Sprint(values[0]) == fmt.Sprint(values[1]) {
		return fmt.Errorf("want two different values, got %s", strings.Join(strings.Fields(fmt.Sprint(values...)), " "))
	}
	return nil
}
