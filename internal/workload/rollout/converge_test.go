package rollout

import (
	"context"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestConvergeRestoresTheRouteAndReapsStrays: without a redeploy, Apply
// points a deleted route back at the live instance and removes a stray,
// keeping the live instance.
func TestConvergeRestoresTheRouteAndReapsStrays(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("conv")
	ctx := context.Background()
	res, err := f.engine.Apply(ctx, f.spec(name, f.images.V1), Intent{Redeploy: true, Generation: 1, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	live := res.Primary()
	if err := f.engine.Router.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	stray := name + "-stray"
	acctest.Docker(t, "create", "--name", stray, "--label", acctest.LabelTestRun+"="+acctest.RunID(),
		"--label", "tinyforge.workload="+name, "--label", "tinyforge.generation=9", "--label", "tinyforge.owner=owner-"+name, f.images.V1)
	f.engine.invalidate()
	o, err := f.engine.Observe(ctx, name, "owner-"+name)
	if err != nil || o.Route != nil || len(o.Strays) != 1 || o.Primary().ID != live.ID {
		t.Fatalf("observed before converging: %+v %v", o, err)
	}
	res, err = f.engine.Apply(ctx, f.spec(name, f.images.V1), Intent{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Primary().ID != live.ID || len(res.Strays) != 0 || res.Route == nil || res.Route.Upstreams[0] != live.Upstream {
		t.Fatalf("after converging: %+v", res.Observed)
	}
	if f.through(name, "v1") != "v1" {
		t.Fatalf("Caddy answers %q", f.through(name, "v1"))
	}
	if names := containerNames(t, name); len(names) != 1 {
		t.Fatalf("containers %v: the stray is still there", names)
	}
}
