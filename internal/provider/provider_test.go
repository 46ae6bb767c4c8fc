package provider

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }

// providerFactories serve the provider in-process to the real terraform
// binary that terraform-plugin-testing drives.
var providerFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"tinyforge": providerserver.NewProtocol6WithError(New("test")()),
}

// accTest is resource.Test for a test case whose every assertion runs. It
// refuses, before anything is deployed, a step that asserts less than it
// reads: terraform-plugin-testing runs Check and ConfigStateChecks only after
// a successful apply that is not PlanOnly, so on a PlanOnly or ExpectError
// step they never run (assert in a following RefreshState step, in the next
// step's PreConfig, or after accTest returns); and every apply step must prove
// there is no perpetual diff (emptyPlanAfterApply), or, when it leaves a plan
// on purpose, say which change it expects.
func accTest(t *testing.T, c resource.TestCase) {
	t.Helper()
	if problems := stepProblems(c.Steps); len(problems) > 0 {
		t.Fatalf("the test case asserts less than it reads:\n  %s", strings.Join(problems, "\n  "))
	}
	resource.Test(t, c)
}

// stepProblems lists the assertions of steps that would never run, and the
// apply steps that do not check the plan after them.
func stepProblems(steps []resource.TestStep) []string {
	var out []string
	for i, s := range steps {
		bad := func(format string, args ...any) {
			out = append(out, fmt.Sprintf("step %d: ", i+1)+fmt.Sprintf(format, args...))
		}
		if s.ImportState {
			if s.Check != nil || len(s.ConfigStateChecks) > 0 {
				bad("an ImportState step runs ImportStateCheck, never Check or ConfigStateChecks")
			}
			continue
		}
		if s.RefreshState || (s.Config == "" && s.ConfigDirectory == nil && s.ConfigFile == nil) {
			continue
		}
		if s.PlanOnly || s.ExpectError != nil {
			kind := "a PlanOnly"
			if s.ExpectError != nil {
				kind = "an ExpectError"
			}
			if s.Check != nil {
				bad("the Check of %s step never runs", kind)
			}
			if len(s.ConfigStateChecks) > 0 {
				bad("the ConfigStateChecks of %s step never run", kind)
			}
		}
		if s.PlanOnly && len(s.ConfigPlanChecks.PreApply) > 0 {
			bad("the PreApply plan checks of a PlanOnly step never run")
		}
		if s.ExpectError != nil && (len(s.ConfigPlanChecks.PostApplyPreRefresh) > 0 || len(s.ConfigPlanChecks.PostApplyPostRefresh) > 0) {
			bad("the post-apply plan checks of an ExpectError step never run")
		}
		if s.PlanOnly || s.ExpectError != nil || s.Destroy {
			continue
		}
		empty := slices.ContainsFunc(s.ConfigPlanChecks.PostApplyPostRefresh, func(c plancheck.PlanCheck) bool {
			return c == plancheck.ExpectEmptyPlan()
		})
		switch {
		case !s.ExpectNonEmptyPlan && !empty:
			bad("an apply step without plancheck.ExpectEmptyPlan() after the refresh (use emptyPlanAfterApply)")
		case s.ExpectNonEmptyPlan && (empty || len(s.ConfigPlanChecks.PostApplyPostRefresh) == 0):
			bad("an apply step that leaves a plan must check the change it expects in PostApplyPostRefresh")
		}
	}
	return out
}

// emptyPlanAfterApply is the plan checks of an apply step: preApply on the
// plan it applies, and, after the apply and a refresh, an empty plan: no
// perpetual diff.
func emptyPlanAfterApply(preApply ...plancheck.PlanCheck) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{
		PreApply:             preApply,
		PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
	}
}

// testEnv is one test's corner of the shared Docker engine: its own network
// and workload names, removed when the test ends.
type testEnv struct {
	t       *testing.T
	network string
	images  acctest.Images
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	acctest.RequireDocker(t)
	env := &testEnv{t: t, network: acctest.UniqueName("tf-net"), images: acctest.TestImages(t)}
	t.Cleanup(func() { acctest.DockerE("network", "rm", env.network) })
	return env
}

// workloadName returns a unique workload name whose containers are removed
// when the test ends, whatever the test did.
func (e *testEnv) workloadName(prefix string) string {
	name := acctest.UniqueName(prefix)
	e.cleanUp(name)
	return name
}

// cleanUp removes the workload's containers when the test ends.
func (e *testEnv) cleanUp(name string) {
	e.t.Cleanup(func() {
		if ids, _ := acctest.DockerE("ps", "-aq", "--filter", "label=tinyforge.workload="+name); ids != "" {
			acctest.DockerE(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})
}

// provider is a provider block for this test's network; extra goes inside
// it (a proxy block).
func (e *testEnv) provider(extra string) string {
	return fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n%s}\n", e.network, extra)
}

// caddyBlock is a proxy block for a Caddy fixture.
func caddyBlock(c *acctest.Caddy) string {
	return fmt.Sprintf(`  proxy {
    caddy {
      admin_url = %q
      listen    = ["127.0.0.1:%d"]
    }
  }
`, c.AdminURL, c.HTTPPort)
}

// containersOf lists the names of the workload's containers on the engine,
// as the docker CLI sees them.
func containersOf(t *testing.T, workload string) []string {
	t.Helper()
	out := acctest.Docker(t, "ps", "-a", "--filter", "label=tinyforge.workload="+workload, "--format", "{{.Names}}")
	return strings.Fields(out)
}

// noContainersLeft is a CheckDestroy: no container of the workloads remains.
func noContainersLeft(t *testing.T, workloads ...string) func(*terraform.State) error {
	return func(*terraform.State) error {
		for _, w := range workloads {
			if names := containersOf(t, w); len(names) > 0 {
				return fmt.Errorf("destroy left containers of workload %s: %v", w, names)
			}
		}
		return nil
	}
}

// attr reads an attribute of a resource in the state.
func stateAttr(s *terraform.State, res, key string) (string, error) {
	rs, ok := s.RootModule().Resources[res]
	if !ok {
		return "", fmt.Errorf("%s not in state", res)
	}
	v, ok := rs.Primary.Attributes[key]
	if !ok {
		return "", fmt.Errorf("%s.%s not in state", res, key)
	}
	return v, nil
}

// wrapped matches text that terraform may have wrapped over several lines:
// the words of each part in order, any whitespace between them, and
// anything between the parts.
func wrapped(parts ...string) *regexp.Regexp {
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = strings.Join(strings.Fields(regexp.QuoteMeta(p)), `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(quoted, ".*"))
}

// atAttr matches a diagnostic that terraform shows at attr = "value" (the
// line of the configuration it quotes), then the parts of its message as
// wrapped does.
func atAttr(attr, value string, parts ...string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)\d+:\s+` + regexp.QuoteMeta(attr) + `\s+=\s+"` + regexp.QuoteMeta(value) + `".*` +
		strings.TrimPrefix(wrapped(parts...).String(), `(?s)`))
}

// wrappedAlone is wrapped whose last part ends the error: nothing follows
// it (no builder's output, no echo of a generated command).
func wrappedAlone(parts ...string) *regexp.Regexp {
	return regexp.MustCompile(wrapped(parts...).String() + `\s*$`)
}

// httpGet fetches a URL on 127.0.0.1 and returns status and trimmed body.
func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// answers checks that the workload's upstream answers path with want.
func answers(res, path, want string) func(*terraform.State) error {
	return func(s *terraform.State) error {
		up, err := stateAttr(s, res, "upstream")
		if err != nil {
			return err
		}
		status, body, err := httpGet("http://" + up + path)
		if err != nil {
			return fmt.Errorf("GET %s%s: %v", up, path, err)
		}
		if status != 200 || body != want {
			return fmt.Errorf("GET %s%s answered %d %q, want 200 %q", up, path, status, clip(body), want)
		}
		return nil
	}
}

// answersStatus checks that the workload's upstream answers path with the
// HTTP status want.
func answersStatus(res, path string, want int) func(*terraform.State) error {
	return func(s *terraform.State) error {
		up, err := stateAttr(s, res, "upstream")
		if err != nil {
			return err
		}
		status, body, err := httpGet("http://" + up + path)
		if err != nil || status != want {
			return fmt.Errorf("GET %s%s answered %d %q (%v), want HTTP %d", up, path, status, clip(body), err, want)
		}
		return nil
	}
}

// clip shortens a body for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// compareEqual compares two state values for equality.
var compareEqual = compare.ValuesSame()

// TestStepProblemsNameAssertionsThatNeverRun: accTest's rules, each on a step
// that breaks it and on the step that keeps it.
func TestStepProblemsNameAssertionsThatNeverRun(t *testing.T) {
	check := func(*terraform.State) error { return nil }
	failed := regexp.MustCompile("failed")
	nonEmpty := []plancheck.PlanCheck{plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate)}
	cases := []struct {
		name string
		step resource.TestStep
		want string // "" when the step is fine
	}{
		{"apply with an empty plan after it", resource.TestStep{Config: "x", Check: check, ConfigPlanChecks: emptyPlanAfterApply()}, ""},
		{"apply without a plan check", resource.TestStep{Config: "x", Check: check}, "without plancheck.ExpectEmptyPlan()"},
		{"apply with only a pre-apply check", resource.TestStep{Config: "x", ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: nonEmpty}}, "without plancheck.ExpectEmptyPlan()"},
		{"apply leaving a named change", resource.TestStep{Config: "x", ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: nonEmpty}}, ""},
		{"apply leaving any change", resource.TestStep{Config: "x", ExpectNonEmptyPlan: true}, "must check the change it expects"},
		{"Check on PlanOnly", resource.TestStep{Config: "x", PlanOnly: true, Check: check}, "Check of a PlanOnly step never runs"},
		{"state check on PlanOnly", resource.TestStep{Config: "x", PlanOnly: true, ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownValue(web, tfjsonpath.New("id"), knownvalue.NotNull())}}, "ConfigStateChecks of a PlanOnly step never run"},
		{"pre-apply check on PlanOnly", resource.TestStep{Config: "x", PlanOnly: true, ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: nonEmpty}},
			"PreApply plan checks of a PlanOnly step never run"},
		{"plan checks on PlanOnly", resource.TestStep{Config: "x", PlanOnly: true, ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: nonEmpty}}, ""},
		{"Check on ExpectError", resource.TestStep{Config: "x", ExpectError: failed, Check: check}, "Check of an ExpectError step never runs"},
		{"plan check on ExpectError", resource.TestStep{Config: "x", ExpectError: failed, ConfigPlanChecks: emptyPlanAfterApply()},
			"post-apply plan checks of an ExpectError step never run"},
		{"ExpectError alone", resource.TestStep{Config: "x", ExpectError: failed}, ""},
		{"Check on RefreshState", resource.TestStep{RefreshState: true, Check: check}, ""},
		{"Check on ImportState", resource.TestStep{ImportState: true, ResourceName: web, Check: check}, "never Check"},
	}
	for _, c := range cases {
		got := strings.Join(stepProblems([]resource.TestStep{c.step}), "\n")
		switch {
		case c.want == "" && got != "":
			t.Errorf("%s: refused: %s", c.name, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%s: problems %q, want one saying %q", c.name, got, c.want)
		}
	}
}
