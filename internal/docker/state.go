package docker

// ContainerState is the engine's word for where a container is in its
// life: the one enum of it, for every package that reads containers (the
// runners, compose).
type ContainerState string

// The states a container is seen in.
const (
	ContainerCreated    ContainerState = "created"
	ContainerRunning    ContainerState = "running"
	ContainerPaused     ContainerState = "paused"
	ContainerRestarting ContainerState = "restarting"
	ContainerRemoving   ContainerState = "removing"
	ContainerExited     ContainerState = "exited"
	ContainerDead       ContainerState = "dead"
)

// Ended reports whether the container's process is gone for good: it will
// not come back by itself.
func (s ContainerState) Ended() bool { return s == ContainerExited || s == ContainerDead }

// Health is the engine's word for a container's health check: the one
// enum of it, for the inspected container and for compose's listing.
type Health string

// The health of a container.
const (
	HealthNone      Health = "" // no health check, or the container does not run
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// ServiceState sums up a service of a compose stack: its containers
// against the number it asks for. The one enum of it: compose reads the
// health checks too; a stack's record, which knows no health, says
// running, stopped or missing.
type ServiceState string

// The states of a service.
const (
	// ServiceRunning: at least the desired number of containers run, none
	// unhealthy or still starting.
	ServiceRunning ServiceState = "running"
	// ServiceStarting: containers run but a health check has not passed yet.
	ServiceStarting ServiceState = "starting"
	// ServiceUnhealthy: a running container fails its health check.
	ServiceUnhealthy ServiceState = "unhealthy"
	// ServiceStopped: the service has containers, but fewer run than
	// desired (stopped by hand, exited, crashed).
	ServiceStopped ServiceState = "stopped"
	// ServiceMissing: the project declares the service, no container exists.
	ServiceMissing ServiceState = "missing"
	// ServiceOrphan: containers of a service the project does not declare.
	ServiceOrphan ServiceState = "orphan"
)
