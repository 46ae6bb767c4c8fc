package runner

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// How Services.Deploy follows one update of a service until Swarm is done
// with it: every task runs the new release, or Swarm rolled it back (and
// which task made it), or paused it.

// UpdateState is Swarm's word for where a service's last update is.
type UpdateState string

// The update states of a service ("" when it was never updated).
const (
	UpdateNone              UpdateState = ""
	UpdateUpdating          UpdateState = "updating"
	UpdatePaused            UpdateState = "paused"
	UpdateCompleted         UpdateState = "completed"
	UpdateRollbackStarted   UpdateState = "rollback_started"
	UpdateRollbackPaused    UpdateState = "rollback_paused"
	UpdateRollbackCompleted UpdateState = "rollback_completed"
)

// RolledBack reports whether the last update was undone (or is being).
func (u UpdateState) RolledBack() bool {
	return u == UpdateRollbackStarted || u == UpdateRollbackPaused || u == UpdateRollbackCompleted
}

// release is what one Deploy rolls out: the image, and the generation on
// the task template. Every task started from that spec carries both, so
// that the rollout of any change (env, limits, mounts, command as well as
// the image) is told from the tasks it replaces, and a rollback from the
// template going back.
type release struct{ image, generation string }

func releaseOf(image string, gen int) release { return release{image, strconv.Itoa(gen)} }

// specRelease is what a service's current spec runs.
func specRelease(d docker.Service) release {
	return release{d.Image, d.TaskLabels[workload.LabelTaskGeneration]}
}

// runs reports whether task t was started from r.
func (r release) runs(t docker.Task) bool {
	return t.Image == r.image && t.Labels[workload.LabelTaskGeneration] == r.generation
}

func (r release) String() string { return "generation " + r.generation + " (" + r.image + ")" }

// RollbackError is a deploy that Swarm rolled back: a new task failed (its
// health check, or it exited) and the previous version serves again.
type RollbackError struct {
	Service string
	// Message is Swarm's word on the rollback; Task the failing task's
	// error and state.
	Message, Task string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("swarm rolled the update of service %s back, the previous version serves: %s; the new task: %s", e.Service, e.Message, e.Task)
}

// wait polls the service until every desired task runs want, or Swarm
// rolled back, or timeout passes. Right after the update call the old
// tasks still run and Swarm may still show the previous update's state;
// neither passes for want's rollout, since the old tasks do not carry its
// generation.
func (s *Services) wait(ctx context.Context, name string, want release, timeout time.Duration) (SwarmService, error) {
	deadline := time.Now().Add(timeout)
	var last SwarmService
	var lastTasks []docker.Task
	// Swarm's first word on a rollback names the task that caused it;
	// "rollback completed" replaces it later.
	var why, failing string
	for {
		svc, tasks, err := s.observe(ctx, name)
		if err != nil {
			return SwarmService{}, err
		}
		last, lastTasks = svc, tasks
		switch {
		case svc.spec != want:
			// A rollback puts the previous spec back: wait until Swarm is
			// done and every task of it runs again (Swarm may call the
			// rollback completed while a replacement task still starts),
			// then fail with the new task's error.
			if why == "" && svc.Update.RolledBack() && svc.UpdateMessage != "rollback completed" {
				why = svc.UpdateMessage
			}
			if f := s.culprit(ctx, tasks, want, why); failing == "" && f != "" {
				failing = f
			}
			served := svc.Update == UpdateRollbackCompleted && svc.Running == svc.Desired && allRun(tasks, svc.spec)
			if served || time.Now().After(deadline) {
				if why == "" {
					why = svc.UpdateMessage
				}
				if failing == "" {
					failing = "no task reported an error (tasks: " + strings.Join(taskStates(tasks), ", ") + ")"
				}
				return svc, &RollbackError{Service: name, Message: why, Task: failing}
			}
		case svc.Update != UpdateUpdating && svc.Update != UpdatePaused && svc.Running == svc.Desired && allRun(tasks, want):
			return svc, nil
		case svc.Update == UpdatePaused:
			return svc, fmt.Errorf("service %s: Swarm paused the update: %s; the new task: %s", name, svc.UpdateMessage, cmp.Or(failedTask(tasks, want), "none failed"))
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("service %s: %d of %d tasks run %s after %s; the last task error: %s",
				name, last.Running, last.Desired, want, timeout, cmp.Or(failedTask(lastTasks, want), "none"))
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// allRun reports whether every task meant to run runs want.
func allRun(tasks []docker.Task, want release) bool {
	for _, t := range tasks {
		if t.DesiredState == "running" && (!want.runs(t) || t.State != "running") {
			return false
		}
	}
	return true
}

var taskInMessage = regexp.MustCompile(`task ([a-z0-9]{25})`)

// culprit describes the task that made Swarm roll back: the one Swarm's
// message names, else the newest task of image that failed; with its last
// log lines. A task Swarm stopped because its health check failed ends
// "complete" (the app exits cleanly on SIGTERM) without an error of its
// own: its state says it stopped before it passed.
func (s *Services) culprit(ctx context.Context, tasks []docker.Task, want release, message string) string {
	var t *docker.Task
	if m := taskInMessage.FindStringSubmatch(message); m != nil {
		for i := range tasks {
			if tasks[i].ID == m[1] {
				t = &tasks[i]
			}
		}
	}
	if t == nil {
		for i := range tasks { // newest first
			if want.runs(tasks[i]) && (tasks[i].Err != "" || tasks[i].State == "failed" || tasks[i].State == "rejected") {
				t = &tasks[i]
				break
			}
		}
	}
	if t == nil {
		return ""
	}
	what := t.Err
	if what == "" {
		what = fmt.Sprintf("it stopped (%s, exit code %d, %q) before it passed its health check and the %s monitor window", t.State, t.ExitCode, t.Message, s.monitor())
	}
	out := fmt.Sprintf("task %s on node %s: %s", short(t.ID), short(t.NodeID), what)
	if lines, err := s.Docker.TaskLogs(ctx, t.ID, 10); err == nil && len(lines) > 0 {
		out += "; its last log lines:\n" + strings.Join(lines, "\n")
	}
	return out
}

// failedTask describes the newest task of want that failed, "" when none
// did.
func failedTask(tasks []docker.Task, want release) string {
	for _, t := range tasks { // newest first
		if want.runs(t) && (t.Err != "" || t.State == "failed" || t.State == "rejected") {
			msg := t.Err
			if msg == "" {
				msg = t.Message
			}
			return fmt.Sprintf("task %s on node %s: %s (%s)", short(t.ID), short(t.NodeID), msg, t.State)
		}
	}
	return ""
}

func short(id string) string { return id[:min(len(id), 12)] }

func taskStates(tasks []docker.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, fmt.Sprintf("%s on node %s %s %s", short(t.ID), short(t.NodeID), t.State, t.Err))
	}
	return out
}
