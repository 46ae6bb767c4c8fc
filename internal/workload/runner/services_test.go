package runner

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// TestAnUpdateThatKeepsTheImageWaitsForItsTasks: an env-only update keeps
// the image, so the old tasks run it too; they are not the update's until
// they carry its generation. A service whose template went back to the
// previous generation (Swarm's rollback) runs another release than the
// deploy's, whatever the image.
func TestAnUpdateThatKeepsTheImageWaitsForItsTasks(t *testing.T) {
	t.Parallel()
	const image = "registry.test/app:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	task := func(id, gen, state string) docker.Task {
		return docker.Task{ID: id, NodeID: "n-" + id, Image: image, State: state, DesiredState: "running",
			Labels: map[string]string{workload.LabelTaskGeneration: gen, "user": "label"}}
	}
	ready := map[string]bool{"n-a": true, "n-b": true, "n-c": true}
	want := releaseOf(image, 5)
	svc := func(gen string, tasks ...docker.Task) SwarmService {
		return serviceOf(docker.Service{ID: "s", Name: "web", Image: image, Replicas: 2,
			TaskLabels: map[string]string{workload.LabelTaskGeneration: gen, "user": "label"}}, tasks, ready)
	}

	// Right after the update call: the old tasks run the same image.
	old := []docker.Task{task("a", "4", "running"), task("b", "4", "running")}
	if allRun(old, want) {
		t.Fatal("the tasks of generation 4 count as the rollout of generation 5: the apply would return before Swarm updated anything")
	}
	if s := svc("5", old...); s.Running != 0 || s.spec != want {
		t.Fatalf("a service at generation 5 whose tasks are all of generation 4: Running %d, spec %v; want 0 and %v", s.Running, s.spec, want)
	}
	// Half-way: one new task runs, one old task still runs.
	half := []docker.Task{task("c", "5", "running"), task("b", "4", "running")}
	if allRun(half, want) || svc("5", half...).Running != 1 {
		t.Fatalf("half-way through the update: allRun %v, Running %d; want false and 1", allRun(half, want), svc("5", half...).Running)
	}
	// Done: every task meant to run carries generation 5; the old ones are
	// shut down.
	stopped := task("a", "4", "shutdown")
	stopped.DesiredState = "shutdown"
	done := []docker.Task{task("c", "5", "running"), task("d", "5", "running"), stopped}
	done[1].NodeID = "n-a"
	if !allRun(done, want) || svc("5", done...).Running != 2 {
		t.Fatalf("every task of generation 5 runs: allRun %v, Running %d; want true and 2", allRun(done, want), svc("5", done...).Running)
	}
	// Rolled back: the template is generation 4 again, the image the same.
	if back := svc("4", old...); back.spec == want || back.Running != 2 {
		t.Fatalf("after a rollback to generation 4: spec %v (want it to differ from %v), Running %d (want 2)", back.spec, want, back.Running)
	}
	// Swarm may call the rollback completed while a replacement task of
	// generation 4 still starts: the previous version does not serve yet.
	starting := []docker.Task{task("a", "4", "running"), task("g", "4", "ready")}
	if back := svc("4", starting...); allRun(starting, back.spec) || back.Running != 1 {
		t.Fatalf("a rollback with a task still starting: allRun %v, Running %d; want false and 1", allRun(starting, back.spec), back.Running)
	}
	// A failed task of the update is the culprit, not an old one.
	failed := task("e", "5", "failed")
	failed.Err = "task: non-zero exit (1)"
	oldFailed := task("f", "4", "failed")
	oldFailed.Err = "an older failure"
	if got := failedTask([]docker.Task{oldFailed, failed}, want); got == "" || !strings.Contains(got, "non-zero exit") {
		t.Fatalf("failedTask = %q, want the failed task of generation 5", got)
	}
}
