package rollout

// Status sums up what runs of a workload (Observed.Status).
type Status string

// The statuses, each said once with what it means in Statuses.
const (
	StatusRunning    Status = "running"
	StatusStopped    Status = "stopped"
	StatusRestarting Status = "restarting"
	StatusMissing    Status = "missing"
	StatusRolledBack Status = "rolled_back"
	StatusPaused     Status = "paused"
)

// StatusMeaning is a status and what it means.
type StatusMeaning struct {
	Status Status
	Means  string
}

// Statuses are the values of Observed.Status in the order the docs list
// them: the one list the provider's schema descriptions, and so the docs,
// are made from.
var Statuses = []StatusMeaning{
	{StatusRunning, "every live container runs; a stack's services each run the containers they ask for; a Swarm service's tasks run and its last update went through"},
	{StatusStopped, "a live container is stopped or exited, a stack's service runs fewer containers than it asks for, or no task of a Swarm service runs"},
	{StatusRestarting, "a live container is restarting: its restart policy brings it back after it exited"},
	{StatusMissing, "nothing of the workload runs: its containers were removed"},
	{StatusRolledBack, "Swarm rolled the service's last update back: the previous version serves"},
	{StatusPaused, "Swarm paused the service's last update: a new task failed"},
}
