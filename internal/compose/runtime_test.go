package compose

import (
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// services indexes Ps's answer by service name.
func services(t *testing.T, st []ServiceStatus) map[string]ServiceStatus {
	t.Helper()
	m := map[string]ServiceStatus{}
	for _, s := range st {
		m[s.Name] = s
	}
	return m
}

// onlyContainer is the single container of a service.
func onlyContainer(t *testing.T, s ServiceStatus) Container {
	t.Helper()
	if len(s.Containers) != 1 {
		t.Fatalf("service %s has %d containers, want 1: %+v", s.Name, len(s.Containers), s.Containers)
	}
	return s.Containers[0]
}

// startedAt is when the engine last started a container.
func startedAt(t *testing.T, id string) string {
	return acctest.Docker(t, "container", "inspect", "--format", "{{.State.StartedAt}}", id)
}

// TestLifecycle walks one project through what the engine will do with it:
// up, up again with nothing changed, an env change of one service, a service
// stopped by hand, down keeping the volume, down removing it.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx := testContext(t)
	f := newFixture(t, rt)

	// Up: both services run, web's port answers on 127.0.0.1.
	p := f.load(t, nil)
	begin := time.Now()
	if err := rt.Up(ctx, p, f.upOptions(t)); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("TIMING first Up (build + create + start + wait): %s", time.Since(begin).Round(time.Millisecond))

	st, err := rt.Ps(ctx, f.project, p)
	if err != nil {
		t.Fatalf("Ps: %v", err)
	}
	svcs := services(t, st)
	for _, name := range []string{"web", "db"} {
		if got := svcs[name].State(); got != docker.ServiceRunning {
			t.Fatalf("service %s is %s, want running: %+v", name, got, svcs[name])
		}
	}
	if len(st) != 2 {
		t.Fatalf("Ps lists %d services, want 2: %+v", len(st), st)
	}
	db, web := onlyContainer(t, svcs["db"]), onlyContainer(t, svcs["web"])
	if db.Health != docker.HealthHealthy {
		t.Errorf("db health %q, want healthy", db.Health)
	}
	for _, c := range []Container{db, web} {
		for k, v := range map[string]string{
			"com.docker.compose.project": f.project,
			acctest.LabelTestRun:         acctest.RunID(),
			"tinyforge.workload":         "compose-test",
		} {
			if c.Labels[k] != v {
				t.Errorf("container %s: label %s=%q, want %q", c.Name, k, c.Labels[k], v)
			}
		}
		if c.ConfigHash == "" {
			t.Errorf("container %s has no config hash", c.Name)
		}
	}
	addr, ok := svcs["web"].HostAddress(8080)
	if !ok || addr.Addr().String() != "127.0.0.1" {
		t.Fatalf("web's 8080 is not published on 127.0.0.1: %+v", web.Ports)
	}
	if body, err := get("http://" + addr.String() + "/"); err != nil || body != "web-v1\n" {
		t.Fatalf("GET web on %s: %q, %v", addr, body, err)
	}
	if _, ok := svcs["db"].HostAddress(8080); ok {
		t.Errorf("db publishes 8080, but nobody asked")
	}
	// The project network: web reaches db by service name.
	if len(web.Networks) != 1 || web.Networks[0] != f.project+"_default" {
		t.Errorf("web networks %v, want [%s_default]", web.Networks, f.project)
	}
	volumeLabel := acctest.Docker(t, "volume", "inspect", "--format", `{{index .Labels "tinyforge.workload"}}`, f.project+"_data")
	if volumeLabel != "compose-test" {
		t.Errorf("volume label tinyforge.workload=%q", volumeLabel)
	}
	webStarted := startedAt(t, web.ID)

	// Up with nothing changed: same containers, not restarted.
	begin = time.Now()
	if err := rt.Up(ctx, f.load(t, nil), f.upOptions(t)); err != nil {
		t.Fatalf("Up unchanged: %v", err)
	}
	t.Logf("TIMING Up with nothing changed: %s", time.Since(begin).Round(time.Millisecond))
	svcs = psServices(t, rt, f, p)
	if got := onlyContainer(t, svcs["db"]).ID; got != db.ID {
		t.Errorf("unchanged Up recreated db")
	}
	if got := onlyContainer(t, svcs["web"]).ID; got != web.ID {
		t.Errorf("unchanged Up recreated web")
	}
	if startedAt(t, web.ID) != webStarted {
		t.Errorf("unchanged Up restarted web")
	}

	// An env change of db only: db is recreated, web keeps its container.
	p2 := f.load(t, map[string]string{"DB_VERSION": "v2"})
	if p2.Fingerprint() == p.Fingerprint() {
		t.Errorf("the fingerprint did not change with db's environment")
	}
	if err := rt.Up(ctx, p2, f.upOptions(t)); err != nil {
		t.Fatalf("Up with db changed: %v", err)
	}
	svcs = psServices(t, rt, f, p2)
	db2 := onlyContainer(t, svcs["db"])
	if db2.ID == db.ID {
		t.Errorf("db's environment changed, but db was not recreated")
	}
	if got := onlyContainer(t, svcs["web"]).ID; got != web.ID {
		t.Errorf("only db changed, but web was recreated")
	}
	if startedAt(t, web.ID) != webStarted {
		t.Errorf("only db changed, but web was restarted")
	}
	if db2.State != docker.ContainerRunning || db2.Health != docker.HealthHealthy {
		t.Errorf("new db is %s/%s", db2.State, db2.Health)
	}

	// db stopped by hand: Ps says stopped; Up starts that same container and
	// leaves web alone.
	acctest.Docker(t, "container", "stop", "--time", "2", db2.ID)
	svcs = psServices(t, rt, f, p2)
	if got := svcs["db"].State(); got != docker.ServiceStopped {
		t.Errorf("db stopped by hand is %s, want stopped", got)
	}
	if got := svcs["web"].State(); got != docker.ServiceRunning {
		t.Errorf("web is %s, want running", got)
	}
	if err := rt.Up(ctx, p2, f.upOptions(t)); err != nil {
		t.Fatalf("Up after db was stopped: %v", err)
	}
	svcs = psServices(t, rt, f, p2)
	if c := onlyContainer(t, svcs["db"]); c.ID != db2.ID || c.State != docker.ContainerRunning {
		t.Errorf("db after Up: %s %s, want the same container %s running", c.ID, c.State, db2.ID)
	}
	if c := onlyContainer(t, svcs["web"]); c.ID != web.ID || startedAt(t, web.ID) != webStarted {
		t.Errorf("Up restarted or recreated web while only db was stopped")
	}

	// Down: containers and the network go, the named volume and nothing
	// else stays.
	if err := rt.Down(ctx, f.project, false, testLog(t)); err != nil {
		t.Fatalf("Down: %v", err)
	}
	filter := "label=com.docker.compose.project=" + f.project
	if out := acctest.Docker(t, "container", "ls", "--all", "--quiet", "--filter", filter); out != "" {
		t.Errorf("Down left containers: %s", out)
	}
	if out := acctest.Docker(t, "network", "ls", "--quiet", "--filter", filter); out != "" {
		t.Errorf("Down left networks: %s", out)
	}
	if out := acctest.Docker(t, "image", "ls", "--all", "--quiet", "--filter", filter); out != "" {
		t.Errorf("Down left the project's builds: %s", out)
	}
	if out := acctest.Docker(t, "volume", "ls", "--quiet", "--filter", filter); out != f.project+"_data" {
		t.Errorf("volumes after Down: %q, want %s_data", out, f.project)
	}
	if st, err := rt.Ps(ctx, f.project, p2); err != nil || services(t, st)["web"].State() != docker.ServiceMissing {
		t.Errorf("Ps after Down: %+v, %v; want web missing", st, err)
	}

	// Down removing volumes, with no container left.
	if err := rt.Down(ctx, f.project, true, testLog(t)); err != nil {
		t.Fatalf("Down with volumes: %v", err)
	}
	if out := acctest.Docker(t, "volume", "ls", "--quiet", "--filter", filter); out != "" {
		t.Errorf("Down with volumes left: %s", out)
	}
}

func psServices(t *testing.T, rt *Runtime, f *fixture, p *Project) map[string]ServiceStatus {
	t.Helper()
	st, err := rt.Ps(testContext(t), f.project, p)
	if err != nil {
		t.Fatalf("Ps: %v", err)
	}
	return services(t, st)
}

// An unhealthy dependency fails Up with an error naming it, and the service
// that waits for it is not started.
func TestUpUnhealthyDependencyNamesTheService(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx := testContext(t)
	f := newFixture(t, rt)
	p := f.load(t, map[string]string{"DB_HEALTH": "fail"})
	err := rt.Up(ctx, p, f.upOptions(t))
	if err == nil {
		t.Fatal("Up with an unhealthy db succeeded")
	}
	t.Logf("Up error: %v", err)
	for _, want := range []string{"compose up " + f.project, "service db is unhealthy", "last health check: 500"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	svcs := psServices(t, rt, f, p)
	if got := svcs["web"].State(); got == docker.ServiceRunning {
		t.Errorf("web runs although db never became healthy")
	}
}
