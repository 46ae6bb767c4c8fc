package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
)

// tfConfig is a configuration for a Workdir: the provider block and the
// resources, with the provider's source address.
func tfConfig(body string) string {
	return `terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + body
}

// mustSucceed fails the test with terraform's output when a run failed.
func mustSucceed(t *testing.T, what string, res acctest.Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, res.Stdout)
	}
}

// mustFail fails the test unless a run failed with output matching want.
func mustFail(t *testing.T, what string, res acctest.Result, err error, want *regexp.Regexp) {
	t.Helper()
	out := res.Stdout + res.Stderr
	if err == nil {
		t.Fatalf("%s succeeded, want an error matching %s:\n%s", what, want, out)
	}
	if !want.MatchString(out) {
		t.Fatalf("%s failed, but not with %s:\n%s", what, want, out)
	}
}

// mustWarn fails the test unless a plan succeeded with output matching
// every one of want.
func mustWarn(t *testing.T, what string, res acctest.Result, err error, want ...*regexp.Regexp) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, res.Stdout)
	}
	for _, w := range want {
		if !w.MatchString(res.Stdout) {
			t.Fatalf("%s: the output lacks %s:\n%s", what, w, res.Stdout)
		}
	}
}

// liveIDs lists the IDs of the workload's containers.
func liveIDs(t *testing.T, workload string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-aq", "--no-trunc", "--filter", "label=tinyforge.workload="+workload))
}

// TestAccWorkloadBelongsToOneState: the same workload name in two
// Terraform states. The second state's plan and apply are refused with the
// import command, and nothing of the first changes; import adopts. A state
// whose containers were replaced by another state's forgets the workload,
// its plan to create it again is refused, and its destroy touches nothing.
// A container of another owner beside a state's own is never removed,
// re-routed or replaced by it.
func TestAccWorkloadBelongsToOneState(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	binary := acctest.ProviderBinary(t)
	name := env.workloadName("owned")
	domain := name + ".test"
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cfg := func(ref string) string {
		return tfConfig(env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, "blue-green", ref))
	}
	first, second := acctest.NewWorkdir(t, binary), acctest.NewWorkdir(t, binary)
	t.Cleanup(func() {
		first.Destroy(context.Background())
		second.Destroy(context.Background())
	})

	first.WriteConfig(cfg(env.images.V1))
	res, err := first.Apply(ctx)
	mustSucceed(t, "first state: apply v1", res, err)
	ids := liveIDs(t, name)

	// The second state declares the same name: its plan warns, its apply
	// is refused before anything runs, both with the way to adopt it; the
	// first state's workload is as it was.
	second.WriteConfig(cfg(env.images.V2))
	alreadyDeployed := wrapped(fmt.Sprintf("workload %q is already deployed on the Docker host", name), "terraform import", name)
	res, err = second.Plan(ctx)
	mustWarn(t, "second state: plan", res, err, wrapped("Warning: The apply will refuse to create workload "+name), alreadyDeployed)
	res, err = second.Apply(ctx)
	mustFail(t, "second state: apply", res, err, alreadyDeployed)
	if now := liveIDs(t, name); strings.Join(now, " ") != strings.Join(ids, " ") {
		t.Fatalf("the refused state changed the containers: %v -> %v", ids, now)
	}
	if err := through(caddy, domain, "v1")(nil); err != nil {
		t.Fatal(err)
	}
	res, err = first.Plan(ctx)
	if err != nil || res.HasChanges {
		t.Fatalf("the first state's plan is not empty (%v):\n%s", err, res.Stdout)
	}

	// What the error says to do works: import adopts, with the owner the
	// workload records. (Then the second state lets it go again.)
	res, err = second.Run(ctx, []string{"import", "-input=false", "-no-color", "tinyforge_workload.web", name})
	mustSucceed(t, "second state: import", res, err)
	res, err = second.Run(ctx, []string{"state", "rm", "tinyforge_workload.web"})
	mustSucceed(t, "second state: state rm", res, err)

	// Another owner's container appears beside the first state's own: the
	// first state warns, refuses to redeploy, and its destroy removes only
	// its own container and leaves the route to the other owner.
	intruder := name + "-intruder"
	makeForeign(t, ids[0], intruder, "0123456789abcdef")
	res, err = first.Plan(ctx)
	if err != nil || !strings.Contains(res.Stdout, "has containers of another state") || !strings.Contains(res.Stdout, intruder) {
		t.Fatalf("plan with a container of another owner (%v): want a warning naming it:\n%s", err, res.Stdout)
	}
	first.WriteConfig(cfg(env.images.V2))
	res, err = first.Apply(ctx)
	mustFail(t, "first state: redeploy beside another owner's container", res, err,
		wrapped("belongs to another Terraform state", intruder, "0123456789abcdef", "Nothing was changed"))
	if now := liveIDs(t, name); len(now) != 2 {
		t.Fatalf("containers after the refused redeploy: %v", now)
	}
	if err := through(caddy, domain, "v1")(nil); err != nil {
		t.Fatal(err)
	}
	res, err = first.Destroy(ctx)
	mustSucceed(t, "first state: destroy", res, err)
	if !strings.Contains(res.Stdout, "left alone") {
		t.Errorf("destroy did not warn about the other owner's container:\n%s", res.Stdout)
	}
	if now := containersOf(t, name); len(now) != 1 || now[0] != intruder {
		t.Fatalf("after the first state's destroy, containers %v: want only the other owner's %s", now, intruder)
	}
	if routes := caddy.AdminGet(t, "/config/apps/http/servers/tinyforge/routes"); !strings.Contains(routes, `"tinyforge-`+name+`"`) {
		t.Fatalf("destroy removed the route while another owner's container remained: %s", routes)
	}
	acctest.Docker(t, "rm", "-f", intruder)

	// A workload the first state knew, replaced by another state's: the
	// first state forgets it, may not create it again, and destroys
	// nothing of it.
	first.WriteConfig(cfg(env.images.V1))
	res, err = first.Apply(ctx)
	mustSucceed(t, "first state: create again", res, err)
	acctest.Docker(t, append([]string{"rm", "-f"}, liveIDs(t, name)...)...)
	res, err = second.Apply(ctx)
	mustSucceed(t, "second state: create the free name", res, err)
	secondIDs := liveIDs(t, name)
	res, err = first.Plan(ctx)
	mustWarn(t, "first state: plan after another state took the name", res, err,
		wrapped("Warning: Workload "+name+" belongs to another state"), alreadyDeployed)
	res, err = first.Apply(ctx)
	mustFail(t, "first state: create again after another state took the name", res, err, alreadyDeployed)
	res, err = first.Destroy(ctx)
	mustSucceed(t, "first state: destroy", res, err)
	if now := liveIDs(t, name); strings.Join(now, " ") != strings.Join(secondIDs, " ") {
		t.Fatalf("the first state's destroy touched the second state's workload: %v -> %v", secondIDs, now)
	}
	if err := through(caddy, domain, "v2")(nil); err != nil {
		t.Fatalf("after the first state's destroy: %v", err)
	}
}

// makeForeign starts a copy of a workload's container that records another
// owner, as a deploy from another Terraform state would have made.
func makeForeign(t *testing.T, liveID, name, owner string) {
	t.Helper()
	raw := acctest.Docker(t, "inspect", "--format", "{{json .Config.Labels}}", liveID)
	var labels map[string]string
	if err := json.Unmarshal([]byte(raw), &labels); err != nil {
		t.Fatal(err)
	}
	labels["tinyforge.owner"] = owner
	labels["tinyforge.generation"] = "7"
	args := []string{"run", "--detach", "--name", name, "--label", acctest.LabelTestRun + "=" + acctest.RunID()}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	t.Cleanup(func() { acctest.DockerE("rm", "-f", name) })
	acctest.Docker(t, append(args, acctest.Docker(t, "inspect", "--format", "{{.Image}}", liveID))...)
}

// TestAccDomainHasOneOwner: two workloads naming one domain are refused at
// apply, naming the domain and both workloads, and exactly one of them gets
// the route; a workload whose wildcard covers another's domain is refused
// at plan; the same with Nginx Proxy Manager.
func TestAccDomainHasOneOwner(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	a, b, wild := env.workloadName("dom-a"), env.workloadName("dom-b"), env.workloadName("dom-wild")
	domain := a + ".shared.test"
	workload := func(resName, name, domain, ref string) string {
		return strings.Replace(routedWorkload(name, domain, "blue-green", ref),
			`resource "tinyforge_workload" "web"`, `resource "tinyforge_workload" "`+resName+`"`, 1)
	}
	both := env.provider(caddyBlock(caddy)) + workload("a", a, domain, env.images.V1) + workload("b", b, domain, env.images.V2)
	routesWith := func(d string) int {
		return strings.Count(caddy.AdminGet(t, "/config/apps/http/servers/tinyforge/routes"), `"`+d+`"`)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, a, b, wild),
		Steps: []resource.TestStep{
			{
				Config: both,
				ExpectError: regexp.MustCompile(fmt.Sprintf(`domain\s+"%s"\s+of\s+workload\s+"(%s|%s)"\s+is\s+already\s+routed\s+to\s+workload\s+"(%s|%s)"`,
					regexp.QuoteMeta(domain), a, b, a, b)),
			},
			{ // exactly one route has the domain, and the refused workload left nothing
				RefreshState:       true,
				ExpectNonEmptyPlan: true, // the refused workload is still to be created
				Check: func(s *terraform.State) error {
					if n := routesWith(domain); n != 1 {
						return fmt.Errorf("%d routes carry %s, want 1", n, domain)
					}
					if len(containersOf(t, a))+len(containersOf(t, b)) != 1 {
						return fmt.Errorf("containers: %v and %v; want only the winner's", containersOf(t, a), containersOf(t, b))
					}
					status, body, err := caddy.GetE(domain, "/")
					if err != nil || status != 200 || (body != "v1\n" && body != "v2\n") {
						return fmt.Errorf("through Caddy: %d %q %v", status, body, err)
					}
					return nil
				},
			},
			{ // neither: Terraform orders no destroy of the winner before a create of the other
				Config:           env.provider(caddyBlock(caddy)),
				ConfigPlanChecks: emptyPlanAfterApply(),
			},
			{ // the first workload alone
				Config:           env.provider(caddyBlock(caddy)) + workload("a", a, domain, env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            through(caddy, domain, "v1"),
			},
			{ // a wildcard over it is refused before anything runs
				Config: env.provider(caddyBlock(caddy)) + workload("a", a, domain, env.images.V1) +
					workload("wild", wild, "*.shared.test", env.images.V2),
				ExpectError: wrapped(`domain "*.shared.test" of workload "` + wild + `" overlaps domain "` + domain + `", already routed to workload "` + a + `"`),
			},
		},
	})
	if n := len(containersOf(t, wild)); n != 0 {
		t.Fatalf("the refused wildcard workload has %d containers", n)
	}

	// The same with Nginx Proxy Manager: one host keeps the domain.
	npm := npmstandin.New(t, npmEmail, npmPassword)
	c, d := env.workloadName("dom-c"), env.workloadName("dom-d")
	npmDomain := c + ".shared.test"
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, c, d),
		Steps: []resource.TestStep{
			{
				Config: env.provider(npmBlock(npm)) + workload("c", c, npmDomain, env.images.V1) + workload("d", d, npmDomain, env.images.V2),
				ExpectError: regexp.MustCompile(fmt.Sprintf(`domain\s+"%s"\s+of\s+workload\s+"(%s|%s)"\s+is\s+already\s+routed\s+to\s+workload\s+"(%s|%s)"`,
					regexp.QuoteMeta(npmDomain), c, d, c, d)),
			},
			{
				PreConfig: func() {
					if hosts := hostsOn(npm, npmDomain); len(hosts) != 1 {
						t.Fatalf("NPM hosts on %s: %+v; want one", npmDomain, hosts)
					}
					if n := len(containersOf(t, c)) + len(containersOf(t, d)); n != 1 {
						t.Fatalf("%d containers of the two workloads; want only the winner's", n)
					}
				},
				Config:           env.provider(npmBlock(npm)) + workload("c", c, npmDomain, env.images.V1),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            throughNPM(npm, npmDomain, "v1"),
			},
		},
	})
}
