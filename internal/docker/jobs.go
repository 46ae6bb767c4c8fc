package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// RunJob runs spec once on the swarm, as a replicated job (one task, never
// restarted; engine API 1.41), waits for its task to end or for o.Timeout,
// and reads the task's last o.Tail output lines (o.Output gets them then:
// the manager hands a task's output over once it ran). spec.Replicas,
// spec.Restart, spec.Monitor and spec.StartFirst do not apply. It removes
// the job's service in every case, on a context of its own when ctx ends
// (an interrupt); the error says when the removal failed. An exit code
// other than 0 is a result, not an error.
func (c *Client) RunJob(ctx context.Context, spec ServiceSpec, o RunOptions) (res RunResult, err error) {
	s := c.swarmSpec(spec)
	one := uint64(1)
	s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}}
	s.UpdateConfig, s.RollbackConfig = nil, nil
	s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	auth, err := c.registryAuth(spec.Image)
	if err != nil {
		return res, fmt.Errorf("job %s: %w", spec.Name, err)
	}
	created, err := c.api.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{EncodedRegistryAuth: auth})
	if err != nil {
		// An interrupted create may have reached the manager.
		return res, c.removeJob(ctx, spec.Name, fmt.Errorf("create job %s: %w", spec.Name, classify(err)))
	}
	defer func() { err = c.removeJob(ctx, created.ID, err) }()

	start := time.Now()
	deadline := time.NewTimer(o.Timeout)
	defer deadline.Stop()
	var task Task
	for {
		tasks, err := c.ServiceTasks(ctx, created.ID)
		if err != nil {
			return res, err
		}
		if len(tasks) > 0 {
			task = tasks[0]
		}
		switch task.State {
		case "complete", "failed", "rejected":
			res.ExitCode = task.ExitCode
			if task.State == "rejected" {
				// Never ran (no node could start it): Swarm's word is the
				// error.
				return res, fmt.Errorf("job %s: task %s was rejected: %s", spec.Name, task.ID[:min(len(task.ID), 12)], task.Err)
			}
			res.Elapsed = time.Since(start)
			return c.jobOutput(ctx, task.ID, o, res)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-deadline.C:
			res.TimedOut, res.ExitCode, res.Elapsed = true, -1, time.Since(start)
			if task.ID == "" {
				return res, nil
			}
			return c.jobOutput(ctx, task.ID, o, res)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// jobOutput adds the task's last output lines to res.
func (c *Client) jobOutput(ctx context.Context, taskID string, o RunOptions, res RunResult) (RunResult, error) {
	if o.Tail <= 0 {
		return res, nil
	}
	lines, err := c.TaskLogLines(ctx, taskID, LogQuery{Tail: o.Tail})
	if err != nil {
		return res, err
	}
	res.Tail = lines
	if o.Output != nil {
		for _, l := range lines {
			o.Output(l)
		}
	}
	return res, nil
}

// removeJob removes a job's service (by ID or name) on a context of its
// own, and returns failure, with the removal's error when it stays.
func (c *Client) removeJob(ctx context.Context, id string, failure error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := c.RemoveService(ctx, id)
	switch {
	case err == nil:
		return failure
	case failure == nil:
		return fmt.Errorf("the job's service %s was not removed: %w", id, err)
	default:
		return fmt.Errorf("%w (and the job's service %s was not removed: %v)", failure, id, err)
	}
}

// registryAuth is the encoded login of image's registry, as a service's
// nodes pull with it; "" when none is configured.
func (c *Client) registryAuth(image string) (string, error) {
	login, found, err := c.registries.For(image)
	if err != nil || !found {
		return "", err
	}
	auth, err := encodeLogin(login)
	if err != nil {
		return "", fmt.Errorf("encode the login of registry %s: %w", login.Address, err)
	}
	return auth, nil
}
