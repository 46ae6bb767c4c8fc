package provider

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// serviceEvents reads the manager's service events since then.
func (f *swarmFixture) serviceEvents(t *testing.T, since time.Time) []dockerEvent {
	return readEvents(t, f.sw.Manager.Docker, since, "type=service")
}

// jobBeforeService checks that the release job of workload name was
// created and removed before the first event of the workload's own
// service (its create or its update): the release ran first.
func jobBeforeService(t *testing.T, evs []dockerEvent, name string) {
	t.Helper()
	var jobCreated, jobRemoved, service time.Time
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e.Name, name+"-release-") && e.Action == "create" && jobCreated.IsZero():
			jobCreated = e.Time
		case strings.HasPrefix(e.Name, name+"-release-") && e.Action == "remove":
			jobRemoved = e.Time
		case e.Name == name && service.IsZero():
			service = e.Time
		}
	}
	if jobCreated.IsZero() || jobRemoved.IsZero() || service.IsZero() || !jobRemoved.Before(service) {
		t.Fatalf("the release job was created at %s and removed at %s, the service's first event came at %s: want the job done before\n%+v",
			jobCreated.Format(time.StampMilli), jobRemoved.Format(time.StampMilli), service.Format(time.StampMilli), evs)
	}
	t.Logf("the release job ran %s, %s before the service's first event", jobRemoved.Sub(jobCreated).Round(time.Millisecond),
		service.Sub(jobRemoved).Round(time.Millisecond))
}

// release deploys a 2-replica service with a release command on the
// swarm: the release runs as a job on the cluster (its output, read back
// from the manager, in the log) and is done before the service is
// created, then before it is updated; a release that fails leaves the
// service as it was (spec version, generation, tasks) and no job.
func (f *swarmFixture) release(t *testing.T, env *testEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := f.sw.Manager
	name := env.workloadName("swrel")
	domain := name + ".test"
	cfg := func(ref, greeting, release string) string {
		return tfConfig(f.provider() + swarmWorkloadOf(name, domain, "blue-green", 2, fmt.Sprintf(`
  env             = { GREETING = %q }
  release_command = %s
  source {
    image {
      ref  = %q
      port = 8080
    }
  }`, greeting, release, ref)))
	}
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logFile := wd.CaptureLog("INFO")
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	jobs := func() string {
		return strings.TrimSpace(m.Docker(t, "service", "ls", "--quiet", "--filter", "label=tinyforge.release="+name))
	}

	since := time.Now().Add(-time.Second)
	wd.WriteConfig(cfg(f.refs["v1"], "first", `["task", "print=migrating on the cluster", "env=GREETING"]`))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "create with a release", res, err)
	f.serves(t, domain, "v1")
	jobBeforeService(t, f.serviceEvents(t, since), name)
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "release: migrating on the cluster") || !strings.Contains(string(logged), "release: GREETING=[masked]") {
		var rel []string
		for _, l := range strings.Split(string(logged), "\n") {
			if strings.Contains(l, "release") {
				rel = append(rel, l)
			}
		}
		t.Fatalf("the job's output, read from the manager, is not in the log:\n%s", strings.Join(rel, "\n"))
	}

	since = time.Now().Add(-time.Second)
	wd.WriteConfig(cfg(f.refs["v2"], "second", `["task", "print=migrating again"]`))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "update with a release", res, err)
	f.serves(t, domain, "v2")
	jobBeforeService(t, f.serviceEvents(t, since), name)
	if left := jobs(); left != "" {
		t.Fatalf("release jobs left: %s", left)
	}

	// A failing release: the service is not touched.
	before := m.Docker(t, "service", "inspect", "--format", `{{.Version.Index}} {{index .Spec.Labels "tinyforge.generation"}}`, name)
	wd.WriteConfig(cfg(f.refs["v1"], "third", `["task", "print=broken migration", "exit=4"]`))
	res, err = wd.Apply(ctx)
	mustFail(t, "a failing release on Swarm", res, err, wrapped(`exited with code 4`, `nothing that runs was changed`, `broken migration`))
	if after := m.Docker(t, "service", "inspect", "--format", `{{.Version.Index}} {{index .Spec.Labels "tinyforge.generation"}}`, name); after != before {
		t.Fatalf("the failed release changed the service: version and generation %q, then %q", before, after)
	}
	if tasks := f.runningTasks(t, name); !tasks.all(2, "GREETING=second", 2) {
		t.Fatalf("after the failed release the tasks are %+v, want the 2 of generation 2", tasks)
	}
	f.serves(t, domain, "v2")
	if left := jobs(); left != "" {
		t.Fatalf("release jobs left after a failure: %s", left)
	}
}
