package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// releaseCases are the pipelines with a release command: containers by
// either strategy, and a Swarm service (a stack refuses one).
var releaseCases = slices.DeleteFunc(slices.Clone(pipelineCases), func(c pipelineCase) bool { return !c.release })

// withCommand is c's spec with a release command and a secret.
func withCommand(c pipelineCase, ref string, command ...string) workload.Spec {
	s := c.spec(ref)
	s.Release = workload.Release{Command: command}
	s.SecretEnv, s.SecretEnvVersion = map[string]string{"SECRET": "canary-71f3"}, 1
	return s
}

// TestTheReleaseRunsAfterProduceBeforeAnyNewInstance: the release step
// comes right after produce, before recreate stops the old instances and
// before any new one starts; on Swarm, a job of the pinned image before
// the update.
func TestTheReleaseRunsAfterProduceBeforeAnyNewInstance(t *testing.T) {
	want := map[string][]string{
		"containers blue-green with a release": {"step produce", "release web-2 of v2: migrate", "step release", "start web-2-2", "step start",
			"step gate", "route web -> [web-2-2:80]", "step swap", "step drain", "remove web-1-1", "step reap"},
		"containers recreate with a release": {"step produce", "release web-2 of v2: migrate", "step release", "stop web-1-1", "step stop",
			"start web-2-2", "step start", "step gate", "route web -> [web-2-2:80]", "step swap", "remove web-1-1", "step reap"},
		"service with a release": {"step produce", "job api-2 of v2@sha256:0: migrate", "step release", "update api v2@sha256:0", "step gate",
			"step swap", "step reap"},
	}
	for _, c := range releaseCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			spec := withCommand(c, "v2", "migrate")
			got, err := e.StepsOf(spec)
			if err != nil || !slices.Equal(got, steps(want[c.name])) {
				t.Errorf("StepsOf = %v %v, want %v", got, err, steps(want[c.name]))
			}
			if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2}); err != nil {
				t.Fatal(err)
			}
			if events := w.takeEvents(); !slices.Equal(events, want[c.name]) {
				t.Errorf("events\n  %q\nwant\n  %q", events, want[c.name])
			}
		})
	}
}

// TestAFailedReleaseChangesNothingThatRuns: a release that exits 3 fails
// the deploy with its exit code and output (the secret masked) before
// anything is stopped or started; what served serves.
func TestAFailedReleaseChangesNothingThatRuns(t *testing.T) {
	for _, c := range releaseCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			name := c.spec("").Name
			unchanged := w.keep(t, name)
			_, err := e.Apply(context.Background(), withCommand(c, "v2", "fail"), Intent{Redeploy: true, Generation: 2})
			var re *ReleaseError
			if !errors.As(err, &re) || re.ExitCode != 3 {
				t.Fatalf("a failing release: %v", err)
			}
			for _, s := range []string{`release command ["fail"] of workload "` + name + `" exited with code 3`,
				"nothing that runs was changed", "migrating", "SECRET=[masked]", "boom"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if strings.Contains(err.Error(), "canary-71f3") {
				t.Errorf("the error holds the secret: %v", err)
			}
			events := w.takeEvents()
			if got := steps(events); !slices.Equal(got, []Step{StepProduce}) {
				t.Errorf("steps %v after a failed release, want produce alone (events %q)", got, events)
			}
			for _, ev := range events {
				if strings.HasPrefix(ev, "start ") || strings.HasPrefix(ev, "stop ") || strings.HasPrefix(ev, "update ") || strings.HasPrefix(ev, "remove ") {
					t.Errorf("a failed release touched what runs: %q", ev)
				}
			}
			unchanged("a failed release")
		})
	}
}

// TestAnInterruptDuringTheReleaseChangesNothingThatRuns: the release runs
// when the deploy is interrupted; the apply returns the interrupt and
// nothing else happens.
func TestAnInterruptDuringTheReleaseChangesNothingThatRuns(t *testing.T) {
	for _, c := range releaseCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			name := c.spec("").Name
			unchanged := w.keep(t, name)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			_, err := e.Apply(ctx, withCommand(c, "v2", "hang"), Intent{Redeploy: true, Generation: 2})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("an interrupted release: %v", err)
			}
			if events := w.takeEvents(); len(steps(events)) != 1 || len(events) != 2 {
				t.Errorf("events %q, want produce and the release alone", events)
			}
			unchanged("an interrupted release")
		})
	}
}

// keep notes the workload's containers and route; the check it returns
// fails t when, after what it names, they differ.
func (w *world) keep(t *testing.T, name string) func(after string) {
	before, routed := w.names(name), w.routed(name)
	return func(after string) {
		t.Helper()
		if now := w.names(name); !slices.Equal(now, before) || w.routed(name) != routed {
			t.Errorf("after %s: %v routed to %q, was %v routed to %q", after, now, w.routed(name), before, routed)
		}
	}
}

// TestOnlyADeployRunsTheRelease: an apply without a new generation (a
// converge: a scale-up, a route fixed) never runs it.
func TestOnlyADeployRunsTheRelease(t *testing.T) {
	c := pipelineCases[0]
	w, e := c.deployed(t)
	spec := withCommand(c, "v1", "migrate")
	spec.Replicas = 2
	if _, err := e.Apply(context.Background(), spec, Intent{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range w.takeEvents() {
		if strings.HasPrefix(ev, "release ") {
			t.Errorf("a scale-up ran the release: %q", ev)
		}
	}
	if n := len(w.names("web")); n != 2 {
		t.Errorf("%d containers after the scale-up, want 2", n)
	}
}

// TestAStackRefusesARelease: compose has its own one-off services.
func TestAStackRefusesARelease(t *testing.T) {
	w := newWorld(t)
	spec := fakeStackSpec("v1", plugin.StrategyDefault)
	spec.Release = workload.Release{Command: []string{"migrate"}}
	_, err := w.engine(true, false).Validate(spec)
	var fe *workload.FieldError
	if !errors.As(err, &fe) || fe.Attr != "release_command" || !strings.Contains(err.Error(), "release_command does not apply to a fakestack source") {
		t.Fatalf("a stack with a release command: %v", err)
	}
}
