package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// plannedImage checks that the plan knows image_id and that it is *id (the
// image a former step deployed): the apply will run it without a build.
type plannedImage struct{ id *string }

func (p plannedImage) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != web {
			continue
		}
		after, _ := rc.Change.After.(map[string]any)
		if got, _ := after["image_id"].(string); got != *p.id {
			resp.Error = fmt.Errorf("planned image_id %q, want the image already built %q", got, *p.id)
		}
		return
	}
	resp.Error = fmt.Errorf("no change planned for %s", web)
}

// TestAccGitPinning: a Git source follows its branch, or is pinned by ref to
// a tag (annotated: peeled to its commit) that a push to the branch does not
// move, or to a commit; a rollback to the commit deployed before runs its
// image, shown in the plan, without a clone or a build; a ref that names
// the commit that runs changes nothing; a commit of another branch fails the
// apply before anything changes.
func TestAccGitPinning(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	app := newAppRepo(t, env)
	name := env.workloadName("pin")
	domain := name + ".test"
	shaA := app.commit(t, "A")
	app.repo.Tag(t, "v1", shaA, true)
	shaB := app.commit(t, "B")
	// A commit of another branch, which the pinned branch main never holds.
	shaOther := app.repo.CommitTo(t, "other", map[string]acctest.File{"x": {Content: []byte("x")}}, "elsewhere")
	cfg := func(ref string) string {
		extra := ""
		if ref != "" {
			extra = fmt.Sprintf("      ref = %q", ref)
		}
		return env.provider(caddyBlock(caddy)) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = "blue-green"
  domains         = [%q]
  drain_timeout   = 1
%s}
`, name, domain, app.block(extra))
	}
	var imageB string
	var fetches int64
	load := newLoadDuring(t, caddy, domain)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{
			{ // no ref: the branch head
				Config: cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringExact(shaB)),
				),
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "B"),
					func(s *terraform.State) error {
						imageB = s.RootModule().Resources[web].Primary.Attributes["image_id"]
						return nil
					},
				),
			},
			{ // an annotated tag: its commit, not the tag object
				Config: cfg("v1"),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringExact(shaA)),
					plancheck.ExpectUnknownValue(web, tfjsonpath.New("image_id")), // never built: the apply builds it
				),
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "A"),
					resource.TestCheckResourceAttr(web, "source.dockerfile.ref", "v1"),
				),
			},
			{ // a push to the branch does not move a pinned workload
				PreConfig: func() { app.commit(t, "C") },
				Config:    cfg("v1"),
				PlanOnly:  true,
			},
			{ // a rollback to B's commit runs B's image: no clone, no build, no dropped request
				PreConfig: func() {
					fetches = app.git.Fetches()
					load.start()
				},
				Config: cfg(shaB),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringExact(shaB)),
					plannedImage{&imageB},
				),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						stats := load.stop()
						t.Logf("rollback A -> B: %d requests, %d failed", stats.Total, stats.Failed)
						if stats.Failed != 0 {
							return fmt.Errorf("%d requests failed: %v", stats.Failed, stats.FirstFailures)
						}
						if n := app.git.Fetches() - fetches; n != 0 {
							return fmt.Errorf("the rollback fetched from the Git server %d times, want none", n)
						}
						return nil
					},
					through(caddy, domain, "B"),
					resource.TestCheckResourceAttrPtr(web, "image_id", &imageB),
				),
			},
			{ // a tag on the commit that runs: the state takes the ref, nothing is redeployed
				PreConfig: func() { app.repo.Tag(t, "v2", shaB, false) },
				Config:    cfg("v2"),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringExact(shaB)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(3)),
				),
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "B"),
					resource.TestCheckResourceAttr(web, "source.dockerfile.ref", "v2"),
				),
			},
			{ // a commit of another branch: refused by the apply before anything changes, at ref
				Config:      cfg(shaOther),
				ExpectError: atAttr("ref", shaOther, `ref `+shaOther+` is not a commit of branch "main"`),
			},
			{ // B serves on; the plan still wants the pinned commit
				RefreshState:       true,
				Check:              through(caddy, domain, "B"),
				ExpectNonEmptyPlan: true,
			},
		},
	})
}
