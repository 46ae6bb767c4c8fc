package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

func TestRecordedMaskerMasksTheRecordedVariablesOnly(t *testing.T) {
	env := []string{"PATH=/usr/local/bin:/usr/bin", "API_KEY=canary-key-1", "LEVEL=debug", "DB_PASSWORD=canary-db-2"}
	m := recordedMasker(env, workload.Settings{EnvKeys: []string{"API_KEY"}, SecretEnvKeys: []string{"DB_PASSWORD"}})
	got := m.Mask("key canary-key-1 db canary-db-2 level debug path /usr/local/bin")
	if want := "key [masked] db [masked] level debug path /usr/local/bin"; got != want {
		t.Errorf("masked %q, want %q: the image's own variables and those not recorded stay", got, want)
	}
}

// TestLogsReadsEveryLiveInstanceInTimeOrder: two replicas, their lines
// by time, each naming its instance; a name that runs nothing is an
// error that says so.
func TestLogsReadsEveryLiveInstanceInTimeOrder(t *testing.T) {
	w := newWorld(t)
	e := w.engine(false, false)
	spec := fakeSpec("v1", "blue-green")
	spec.Replicas = 2
	if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatal(err)
	}
	lines, err := e.Logs(context.Background(), "web", docker.LogQuery{Tail: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Instance != "web-1-1" || lines[1].Instance != "web-1-2" || lines[1].Text != "log line of web-1-2" {
		t.Errorf("lines %+v", lines)
	}
	if _, err := e.Logs(context.Background(), "nothing", docker.LogQuery{}); err == nil || !strings.Contains(err.Error(), `no workload named "nothing" runs on the Docker host`) {
		t.Errorf("logs of a name that runs nothing: %v", err)
	}
}
