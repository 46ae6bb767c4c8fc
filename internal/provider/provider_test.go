package provider

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }

// providerFactories serve the provider in-process to the real terraform
// binary that terraform-plugin-testing drives.
var providerFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"tinyforge": providerserver.NewProtocol6WithError(New("test")()),
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
