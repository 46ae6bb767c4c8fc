package acctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Crash makes the host fail as a machine that loses power does: its link
// to the test network goes down, then its dockerd, everything dockerd
// started (containerd, shims) and the containers' processes are killed,
// by PID. Nothing is stopped gracefully and nothing tells the rest of the
// swarm. The host stays dead; the hosts' clean-up removes what is left.
func (h *Host) Crash(t testing.TB) {
	t.Helper()
	var pids []int
	if ids, err := h.DockerE("ps", "--quiet"); err == nil && ids != "" {
		out, err := h.DockerE(append([]string{"inspect", "--format", "{{.State.Pid}}"}, strings.Fields(ids)...)...)
		if err != nil {
			t.Fatalf("host %s: container PIDs: %v", h.Name, err)
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	veth := fmt.Sprintf("%sh%d", h.hosts.prefix, h.index)
	if err := run("ip", "link", "set", veth, "down"); err != nil {
		t.Fatalf("host %s: take the link down: %v", h.Name, err)
	}
	if p := h.dockerd; p != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // dockerd's process group (Setpgid)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := killNamespaceProcesses(h.Name); err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	t.Logf("host %s crashed: link down, dockerd and %d container processes killed", h.Name, len(pids))
}

// SwarmCaddy is a Caddy container on a swarm's overlay network, on the
// manager, that reaches the services' tasks by Docker's DNS: its admin API
// at AdminURL and its HTTP port at HTTPURL, both on the manager's address.
type SwarmCaddy struct {
	AdminURL, HTTPURL string
	Container         string
}

// StartSwarmCaddy runs Debian's Caddy (the static sites' base image) as a
// container on the manager, attached to the attachable overlay network
// network, publishing its admin API (port 2019) and HTTP (80) on the
// manager's address. The container goes when the hosts do.
func (s *Swarm) StartSwarmCaddy(t testing.TB, network string) *SwarmCaddy {
	t.Helper()
	m := s.Manager
	image := StaticImages(t).Server
	m.LoadImages(t, image)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	config, _ := json.Marshal(map[string]any{"admin": map[string]any{
		"listen":  "0.0.0.0:2019",
		"origins": []string{m.Addr + ":2019", "127.0.0.1:2019", "localhost:2019"},
	}})
	if err := os.WriteFile(filepath.Join(dir, "caddy.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	name := "caddy-" + RunID()
	m.Docker(t, "run", "--detach", "--name", name, "--network", network,
		"--publish", m.Addr+":80:80", "--publish", m.Addr+":2019:2019",
		"--volume", dir+":/etc/tinyforge:ro", image, "caddy", "run", "--config", "/etc/tinyforge/caddy.json")
	c := &SwarmCaddy{AdminURL: "http://" + m.Addr + ":2019", HTTPURL: "http://" + m.Addr, Container: name}
	client := &http.Client{Timeout: 2 * time.Second}
	Eventually(t, 30*time.Second, 200*time.Millisecond, "the swarm's Caddy admin API does not answer", func() bool {
		resp, err := client.Get(c.AdminURL + "/config/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// HealthCheckedImage is image (a test app image on the shared engine) with
// the health check command and a Docker HEALTHCHECK on GET /healthz every
// second (unhealthy after 2 failures): what Swarm gates an update on.
// Built once per image and process; it goes with the test images.
func HealthCheckedImage(t testing.TB, image string) string {
	t.Helper()
	v, _ := healthCheckedImages.LoadOrStore(image, sync.OnceValues(func() (string, error) {
		return buildHealthChecked(t, image)
	}))
	ref, err := v.(func() (string, error))()
	if err != nil {
		t.Fatalf("build the health-checked image of %s: %v", image, err)
	}
	return ref
}

var healthCheckedImages sync.Map

func buildHealthChecked(t testing.TB, image string) (string, error) {
	bin := HealthcheckBinary(t)
	dir, err := scratchDir("healthchecked")
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "healthcheck"), b, 0o755); err != nil {
		return "", err
	}
	dockerfile := fmt.Sprintf("FROM %s\n%s\nCOPY healthcheck /healthcheck\n"+
		"HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/healthcheck\", \"http://127.0.0.1:8080/healthz\"]\n",
		image, BuildLabel(testImagesOwner))
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	ref := image + "-hc"
	if _, err := DockerBuildE("--tag", ref, dir); err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	return ref, nil
}
