package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestTeardownRemovesOnlyWhatItsOwnerDeployed: with a container of another
// owner beside its own, Teardown removes its own, leaves the other and the
// route, and says so; alone, it removes the route too.
func TestTeardownRemovesOnlyWhatItsOwnerDeployed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("down")
	ctx := context.Background()
	spec := f.spec(name, f.images.V1)
	res, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 1, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	theirs := name + "-theirs"
	acctest.Docker(t, "run", "--detach", "--name", theirs, "--label", acctest.LabelTestRun+"="+acctest.RunID(),
		"--label", "tinyforge.workload="+name, "--label", "tinyforge.generation=5", "--label", "tinyforge.owner=them", f.images.V2)
	warnings, err := f.engine.Teardown(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], theirs) || !strings.Contains(warnings[0], "left alone") {
		t.Fatalf("warnings %q", warnings)
	}
	if names := containerNames(t, name); len(names) != 1 || names[0] != theirs {
		t.Fatalf("containers %v: want only %s", names, theirs)
	}
	if routes, _ := f.engine.Router.Routes(ctx); len(routes) != 1 {
		t.Fatalf("routes %+v: the route must stay with the other owner's container", routes)
	}
	_ = res
	acctest.Docker(t, "rm", "-f", theirs)
	if warnings, err := f.engine.Teardown(ctx, spec); err != nil || len(warnings) != 0 {
		t.Fatalf("teardown alone: %v %v", warnings, err)
	}
	if routes, _ := f.engine.Router.Routes(ctx); len(routes) != 0 {
		t.Fatalf("routes %+v after the teardown", routes)
	}
}
