package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

func inst(name, state string, gen int, upstream string) runner.Instance {
	return runner.Instance{
		ID: name + "-id", Name: name, State: docker.ContainerState(state), Upstream: upstream, Published: upstream,
		Recorded: workload.Recorded{Workload: "web", Generation: gen},
		Created:  time.Unix(int64(gen), 0),
	}
}

func TestReconcileTheRouteDecidesWhichContainerIsLive(t *testing.T) {
	blue := inst("web-1-a", "running", 1, "127.0.0.1:1001")
	green := inst("web-2-b", "running", 2, "127.0.0.1:1002")
	// A crash after green started but before the swap: the route still
	// points at blue, so blue is live and green is a stray.
	o := reconcile("web", "", []runner.Instance{blue, green}, &proxy.Route{Workload: "web", Upstreams: []string{blue.Upstream}})
	if len(o.Live) != 1 || o.Live[0].Name != blue.Name || len(o.Strays) != 1 || o.Strays[0].Name != green.Name {
		t.Fatalf("live %v strays %v", names(o.Live), o.StrayNames())
	}
	if o.Status() != StatusRunning {
		t.Fatalf("status %s", o.Status())
	}
}

func TestReconcileWithoutRouteTakesTheNewestRunning(t *testing.T) {
	old := inst("web-1-a", "running", 1, "127.0.0.1:1001")
	newer := inst("web-2-b", "running", 2, "127.0.0.1:1002")
	newestStopped := inst("web-3-c", "exited", 3, "")
	o := reconcile("web", "", []runner.Instance{newestStopped, old, newer}, nil)
	if len(o.Live) != 1 || o.Live[0].Name != newer.Name || len(o.Strays) != 2 {
		t.Fatalf("live %v strays %v", names(o.Live), o.StrayNames())
	}
	// A route pointing somewhere no container is does not make anything
	// live by itself.
	o = reconcile("web", "", []runner.Instance{old}, &proxy.Route{Upstreams: []string{"127.0.0.1:9"}})
	if len(o.Live) != 1 || o.Live[0].Name != old.Name {
		t.Fatalf("live %v", names(o.Live))
	}
}

func TestStatus(t *testing.T) {
	for state, want := range map[string]Status{"running": StatusRunning, "exited": StatusStopped, "created": StatusStopped, "restarting": StatusRestarting} {
		o := reconcile("web", "", []runner.Instance{inst("web-1-a", state, 1, "")}, nil)
		if o.Status() != want {
			t.Errorf("%s: status %s, want %s", state, o.Status(), want)
		}
	}
	if o := reconcile("web", "", nil, nil); o.Status() != StatusMissing || len(o.Live) != 0 {
		t.Errorf("no container: %+v", o)
	}
}

func TestRouteDrifted(t *testing.T) {
	live := inst("web-1-a", "running", 1, "127.0.0.1:1001")
	spec := workload.Spec{Domains: []string{"web.example.test"}}
	for name, c := range map[string]struct {
		route *proxy.Route
		spec  workload.Spec
		want  bool
	}{
		"in line":           {&proxy.Route{Domains: spec.Domains, Upstreams: []string{live.Upstream}}, spec, false},
		"missing":           {nil, spec, true},
		"pointed elsewhere": {&proxy.Route{Domains: spec.Domains, Upstreams: []string{"127.0.0.1:9"}}, spec, true},
		"other domains":     {&proxy.Route{Domains: []string{"x.example.test"}, Upstreams: []string{live.Upstream}}, spec, true},
		"left over":         {&proxy.Route{Domains: spec.Domains, Upstreams: []string{live.Upstream}}, workload.Spec{}, true},
		"none wanted":       {nil, workload.Spec{}, false},
	} {
		o := Observed{Live: []runner.Instance{live}, Route: c.route}
		if got := routeDrifted(c.spec, o); got != c.want {
			t.Errorf("%s: drifted=%v, want %v", name, got, c.want)
		}
	}
}

// loggingContainers are the world's containers, whose logs are lines.
type loggingContainers struct {
	fakeContainers
	lines []string
}

func (c loggingContainers) Logs(context.Context, runner.Instance, int) ([]string, error) {
	return c.lines, nil
}

func TestTheGateLogTailMasksEnvAndSecretValues(t *testing.T) {
	e := New(Runtimes{Containers: loggingContainers{lines: []string{"connecting with password s3cr3t-pass", "token tok-4411 ok", "mode=1"}}})
	d := &deployment{Engine: e, spec: workload.Spec{
		Env:       map[string]string{"DB_PASSWORD": "s3cr3t-pass", "MODE": "1"},
		SecretEnv: map[string]string{"TOKEN": "tok-4411"},
	}}
	tail := d.logTail(context.Background(), runner.Instance{Name: "web-1"})
	want := "\nlast log lines of web-1:\n  connecting with password [masked]\n  token [masked] ok\n  mode=1"
	if tail != want {
		t.Fatalf("log tail %q, want %q", tail, want)
	}
}

func TestReconcileSetsAsideTheContainersOfAnotherOwner(t *testing.T) {
	mine := inst("web-1-a", "running", 1, "127.0.0.1:1001")
	mine.Recorded.Owner = "me"
	theirs := inst("web-2-b", "running", 2, "127.0.0.1:1002")
	theirs.Recorded.Owner = "them"
	legacy := inst("web-0-c", "exited", 0, "")
	// The route points at theirs and theirs is newer: neither makes it
	// live for me, nor a stray of mine that my next apply would remove.
	o := reconcile("web", "me", []runner.Instance{theirs, mine, legacy}, &proxy.Route{Workload: "web", Upstreams: []string{theirs.Upstream}})
	if len(o.Live) != 1 || o.Live[0].Name != mine.Name {
		t.Fatalf("live %v, want mine", names(o.Live))
	}
	if strays := o.StrayNames(); len(strays) != 1 || strays[0] != legacy.Name {
		t.Fatalf("strays %v: want only the container deployed before owners were recorded", strays)
	}
	if f := o.ForeignNames(); len(f) != 1 || f[0] != theirs.Name || o.ForeignOwners()[0] != "them" {
		t.Fatalf("foreign %v owners %v", f, o.ForeignOwners())
	}
	// Import ("" owner) sees everything as its own.
	if o := reconcile("web", "", []runner.Instance{theirs, mine}, nil); len(o.Foreign) != 0 || len(o.Live) != 1 || o.Live[0].Name != theirs.Name {
		t.Fatalf("import: live %v foreign %v", names(o.Live), o.ForeignNames())
	}
}

func TestReconcileWithoutRouteTakesEveryRunningInstanceOfTheNewestGeneration(t *testing.T) {
	a := inst("web-2-a", "running", 2, "127.0.0.1:1001")
	b := inst("web-2-b", "running", 2, "127.0.0.1:1002")
	c := inst("web-2-c", "exited", 2, "")
	old := inst("web-1-d", "running", 1, "127.0.0.1:1003")
	o := reconcile("web", "", []runner.Instance{old, a, c, b}, nil)
	if got := names(o.Live); len(got) != 2 || got[0] != a.Name || got[1] != b.Name {
		t.Fatalf("live %v, want both running instances of generation 2", got)
	}
	if len(o.Strays) != 2 || o.Status() != StatusRunning {
		t.Fatalf("strays %v status %s", o.StrayNames(), o.Status())
	}
}
