package docker

import (
	"time"
)

// Config says how to reach the Docker engine.
type Config struct {
	// Host is the engine address: "unix:///var/run/docker.sock",
	// "tcp://host:2376" or "ssh://user@host[:port][/path/to/docker.sock]".
	// Empty means $DOCKER_HOST, then the local socket.
	Host string
	// CAPEM, CertPEM and KeyPEM are PEM-encoded TLS material for a tcp://
	// host. All empty means plain TCP (or the unix socket).
	CAPEM, CertPEM, KeyPEM string
	// SSHPrivateKey is the client key of an ssh:// host (OpenSSH or PEM
	// format, unencrypted); empty means the SSH agent at $SSH_AUTH_SOCK.
	SSHPrivateKey string
	// SSHHostKey pins the host's public key ("ssh-ed25519 AAAA..."); empty
	// means checking SSHKnownHostsFile.
	SSHHostKey string
	// SSHKnownHostsFile is the known_hosts file the host key is checked
	// against; empty means ~/.ssh/known_hosts.
	SSHKnownHostsFile string
}

// Container is one container as the engine lists it: enough to reconcile a
// workload without inspecting each container.
type Container struct {
	ID      string
	Name    string // without the leading "/"
	Image   string // the reference it was created from
	ImageID string
	State   ContainerState
	Labels  map[string]string
	Ports   []Port
	Mounts  []Mount
	Created time.Time
}

// Running reports whether the container is up and not restarting.
func (c Container) Running() bool { return c.State == ContainerRunning }

// Port is a published container port.
type Port struct {
	ContainerPort int
	HostIP        string
	HostPort      int
	Protocol      string // "tcp" or "udp"
}

// Mount is a volume or bind mount of a container.
type Mount struct {
	// Type is "volume" (Source is the volume name) or "bind" (Source is an
	// absolute host path).
	Type     string
	Source   string
	Target   string
	ReadOnly bool
}

// ContainerDetail is an inspected container.
type ContainerDetail struct {
	Container
	// Env is the container's environment as "KEY=value", image-defined
	// entries included.
	Env          []string
	RestartCount int
	ExitCode     int
	StartedAt    time.Time
	FinishedAt   time.Time
	// Health is the Docker HEALTHCHECK status when the image defines one,
	// else HealthNone.
	Health Health
}

// ContainerSpec is a container to create.
type ContainerSpec struct {
	Name   string
	Image  string
	Env    []string // "KEY=value"
	Labels map[string]string
	// Network is the user-defined bridge network the container joins.
	Network string
	// NetworkAliases are extra DNS names on Network.
	NetworkAliases []string
	// Port is the container port (tcp) to publish on PublishAddress.
	Port           int
	PublishAddress string
	// HostPort is the fixed host port; 0 lets the engine pick a free one.
	HostPort int
	Mounts   []Mount
	// RestartPolicy is a Docker restart policy name ("unless-stopped").
	RestartPolicy string
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Init runs the engine's init process (docker-init) as PID 1, which
	// forwards signals and reaps zombies, for programs that do not expect
	// to be PID 1.
	Init bool
	// Cmd and Entrypoint replace the image's when not nil.
	Cmd, Entrypoint []string
	User            string
	WorkingDir      string
	// StopSignal is the signal a stop sends ("" is the image's, SIGTERM).
	StopSignal string
	// MemoryBytes limits memory; NanoCPUs limits CPU time (1e9 = one
	// core); 0 means no limit.
	MemoryBytes int64
	NanoCPUs    int64
}

// Image is one image on the engine.
type Image struct {
	ID       string
	RepoTags []string
	Labels   map[string]string
	Created  time.Time
	Size     int64
	// Healthcheck says the image declares a HEALTHCHECK (other than NONE).
	Healthcheck bool
}

// Progress receives human-readable progress lines of a long operation (pull,
// build) as they arrive.
type Progress func(line string)
