package rollout

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }

// fixture is an Engine on the real Docker engine and a real Caddy, with a
// network of the test's own; everything of its workloads is removed when
// the test ends.
type fixture struct {
	t      *testing.T
	engine *Engine
	caddy  *acctest.Caddy
	images acctest.Images

	mu    sync.Mutex
	steps []Step
	logs  acctest.LockedBuffer // the engine's log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	acctest.RequireDocker(t)
	f := &fixture{t: t, images: acctest.TestImages(t), caddy: acctest.StartCaddy(t)}
	client, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	network := acctest.UniqueName("ro-net")
	router, err := caddy.New(caddy.Config{AdminURL: f.caddy.AdminURL, Listen: []string{"127.0.0.1:" + strconv.Itoa(f.caddy.HTTPPort)}})
	if err != nil {
		t.Fatal(err)
	}
	f.engine = New(Runtimes{Containers: &runner.Containers{Docker: client, Network: network, PublishAddress: "127.0.0.1",
		ForwardTo: runner.ForwardPublished, StopTimeout: 2 * time.Second}})
	f.engine.Images = client
	f.engine.Router = router
	f.engine.Log = slog.New(slog.NewTextHandler(&f.logs, nil))
	f.engine.AfterStep = func(_ context.Context, _ string, s Step) {
		f.mu.Lock()
		f.steps = append(f.steps, s)
		f.mu.Unlock()
	}
	t.Cleanup(func() {
		acctest.DockerE("network", "rm", network)
		client.Close()
	})
	return f
}

// name is a workload name of this test, whose containers go when it ends.
func (f *fixture) name(prefix string) string {
	name := acctest.UniqueName(prefix)
	f.t.Cleanup(func() {
		if ids, _ := acctest.DockerE("ps", "-aq", "--filter", "label="+workload.LabelWorkload+"="+name); ids != "" {
			acctest.DockerE(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})
	return name
}

// spec is a routed image workload of ref.
func (f *fixture) spec(name, ref string) workload.Spec {
	return workload.Spec{
		Name: name, Owner: "owner-" + name, Strategy: plugin.StrategyBlueGreen, Domains: []string{name + ".test"},
		HealthTimeout: 20 * time.Second, DrainTimeout: 200 * time.Millisecond,
		Source: &image.Config{Ref: ref, Port: 8080, Healthcheck: "/healthz", Pull: image.PullNever},
	}
}

// through is what Caddy answers for the workload's domain, once that is
// want, else after 10 s. Caddy answers a config write before the server
// of the config before has stopped: for a moment that server may still
// answer, or reset, a new connection with the old routes.
func (f *fixture) through(name, want string) string {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := ""
		if status, body, err := f.caddy.GetE(name+".test", "/"); err == nil && status == http.StatusOK {
			got = strings.TrimSpace(body)
		}
		if got == want || time.Now().After(deadline) {
			return got
		}
	}
}

func (f *fixture) takeSteps() []Step {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.steps
	f.steps = nil
	return s
}

func containerNames(t *testing.T, name string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-a", "--filter", "label="+workload.LabelWorkload+"="+name, "--format", "{{.Names}}"))
}
