package provider

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// keptBlue proves that a failed deploy of a routed workload kept blue: its
// record is a Check of the step that deployed blue, its steps follow the
// step whose apply failed.
type keptBlue struct {
	t        *testing.T
	workload string
	// Blue, as the state recorded it.
	containerID, upstream string
	generation            int64
}

// record reads blue from the state.
func (b *keptBlue) record(s *terraform.State) error {
	var err error
	if b.containerID, err = stateAttr(s, web, "container_id"); err != nil {
		return err
	}
	if b.upstream, err = stateAttr(s, web, "upstream"); err != nil {
		return err
	}
	gen, err := stateAttr(s, web, "generation")
	if err != nil {
		return err
	}
	b.generation, err = strconv.ParseInt(gen, 10, 64)
	return err
}

// steps: a refresh finds blue still serving (serving checks that through
// the proxy), alone, the state still describing it and no stray, and plans
// the failed deploy again as the next generation; against blueConfig,
// blue's own configuration, there is nothing to do. preRefresh, when set,
// runs before the refresh.
func (b *keptBlue) steps(blueConfig string, preRefresh func(), serving ...resource.TestCheckFunc) []resource.TestStep {
	alone := func(s *terraform.State) error {
		names := containersOf(b.t, b.workload)
		if len(names) != 1 {
			return fmt.Errorf("want blue alone, got %v", names)
		}
		if id := acctest.Docker(b.t, "inspect", "--format", "{{.Id}}", names[0]); id != b.containerID {
			return fmt.Errorf("the remaining container %s is not blue %s", id, b.containerID)
		}
		for _, c := range []struct{ key, want string }{
			{"container_id", b.containerID},
			{"upstream", b.upstream},
			{"routed_to", b.upstream},
			{"generation", strconv.FormatInt(b.generation, 10)},
			{"stray_containers.#", "0"},
		} {
			if v, err := stateAttr(s, web, c.key); err != nil || v != c.want {
				return fmt.Errorf("the state's %s is %q (%v), want blue's %s", c.key, v, err, c.want)
			}
		}
		return nil
	}
	nextGeneration := knownvalue.Int64Func(func(v int64) error {
		if v != b.generation+1 {
			return fmt.Errorf("generation %d, want %d: the failed deploy offered again", v, b.generation+1)
		}
		return nil
	})
	return []resource.TestStep{
		{
			PreConfig:    preRefresh,
			RefreshState: true,
			Check:        resource.ComposeTestCheckFunc(append(serving, alone)...),
			// The configuration is still the one that failed: the plan
			// offers that deploy again.
			ExpectNonEmptyPlan: true,
			RefreshPlanChecks: resource.RefreshPlanChecks{PostRefresh: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), nextGeneration),
			}},
		},
		{Config: blueConfig, PlanOnly: true},
	}
}
