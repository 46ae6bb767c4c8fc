package compose

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// TestUpBesideStartsTheNewContainerBesideTheOld: a change of web makes
// UpBeside create web's new container beside the running one, through
// compose (the service's labels, the next container number, the service
// name as a network alias), both answering; Retire of the old leaves the
// new one, which a plain Up then finds up to date. A project whose web did
// not change, or changed only in db, starts nothing beside.
func TestUpBesideStartsTheNewContainerBesideTheOld(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx := testContext(t)
	f := newFixture(t, rt)
	if err := rt.Up(ctx, f.load(t, nil), f.upOptions(t)); err != nil {
		t.Fatalf("Up: %v", err)
	}
	old := onlyContainer(t, psServices(t, rt, f, f.load(t, nil))["web"])
	db := onlyContainer(t, psServices(t, rt, f, f.load(t, nil))["db"])

	v2 := f.load(t, map[string]string{"WEB_VERSION": "v2"})
	b, err := rt.UpBeside(ctx, v2, f.upOptions(t), "web")
	if err != nil {
		t.Fatalf("UpBeside: %v", err)
	}
	if len(b.Old) != 1 || b.Old[0].ID != old.ID || len(b.New) != 1 {
		t.Fatalf("UpBeside: old %+v, new %+v; want the old web and one new", b.Old, b.New)
	}
	web := psServices(t, rt, f, v2)["web"]
	if len(web.Containers) != 2 || web.State() != docker.ServiceRunning {
		t.Fatalf("web after UpBeside: %+v, want 2 running containers of one service", web)
	}
	for _, c := range web.Containers {
		want := "web-v2\n"
		if c.ID == old.ID {
			want = "web-v1\n"
		}
		if got := answer(t, c); got != want {
			t.Errorf("container %s answers %q, want %q", c.Name, got, want)
		}
		if c.Labels["com.docker.compose.service"] != "web" || c.Labels[acctest.LabelTestRun] != acctest.RunID() {
			t.Errorf("container %s labels %v", c.Name, c.Labels)
		}
	}
	next := b.New[0]
	if next.Number != old.Number+1 || next.ConfigHash == old.ConfigHash {
		t.Errorf("new container: number %d (old %d), config hash %s (old %s)", next.Number, old.Number, next.ConfigHash, old.ConfigHash)
	}
	aliases := acctest.Docker(t, "container", "inspect", "--format",
		`{{range .NetworkSettings.Networks}}{{join .Aliases " "}}{{end}}`, next.ID)
	if !strings.Contains(" "+aliases+" ", " web ") {
		t.Errorf("the new container's network aliases %q lack the service name", aliases)
	}
	if got := onlyContainer(t, psServices(t, rt, f, v2)["db"]); got.ID != db.ID {
		t.Errorf("UpBeside of web recreated db")
	}

	if err := rt.Retire(ctx, f.project, []string{old.ID}); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if got := onlyContainer(t, psServices(t, rt, f, v2)["web"]); got.ID != next.ID {
		t.Fatalf("after Retire web runs %s, want the new container %s", got.ID, next.ID)
	}
	if err := rt.Up(ctx, v2, f.upOptions(t)); err != nil {
		t.Fatalf("Up after Retire: %v", err)
	}
	if got := onlyContainer(t, psServices(t, rt, f, v2)["web"]); got.ID != next.ID {
		t.Errorf("a plain Up recreated the new container: compose does not see it as up to date")
	}

	// Nothing of web changed, then only db: nothing beside, web untouched.
	for _, env := range []map[string]string{{"WEB_VERSION": "v2"}, {"WEB_VERSION": "v2", "DB_VERSION": "v2"}} {
		b, err := rt.UpBeside(ctx, f.load(t, env), f.upOptions(t), "web")
		if err != nil {
			t.Fatalf("UpBeside %v: %v", env, err)
		}
		if len(b.Old) != 0 || len(b.New) != 0 {
			t.Errorf("UpBeside %v: old %+v, new %+v; want nothing beside", env, b.Old, b.New)
		}
		if got := onlyContainer(t, psServices(t, rt, f, v2)["web"]); got.ID != next.ID {
			t.Errorf("UpBeside %v replaced web", env)
		}
	}
	if got := onlyContainer(t, psServices(t, rt, f, v2)["db"]); got.ID == db.ID {
		t.Errorf("db's environment changed, but UpBeside did not recreate it")
	}

	if err := rt.Retire(ctx, "another-project", []string{next.ID}); err == nil {
		t.Errorf("Retire of a container of another project succeeded")
	}
}

// answer is what a running web container answers on GET /.
func answer(t *testing.T, c Container) string {
	t.Helper()
	for _, p := range c.Ports {
		if p.Target == 8080 && p.HostPort > 0 {
			body, err := get("http://" + net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + "/")
			if err != nil {
				t.Fatalf("GET %s: %v", c.Name, err)
			}
			return body
		}
	}
	t.Fatalf("container %s publishes no 8080: %+v", c.Name, c.Ports)
	return ""
}
