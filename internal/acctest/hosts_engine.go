package acctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startDockerd starts the host's own engine inside its namespace and waits
// until it answers. nsenter --net only, not ip netns exec: the latter
// remounts /sys, which hides the cgroup mounts from dockerd.
func (h *Host) startDockerd(opts HostsOptions) error {
	n := 96 + h.hosts.slot
	h.DockerSocket = filepath.Join(h.dir, "docker.sock")
	h.DockerHost = "unix://" + h.DockerSocket
	configFile := filepath.Join(h.dir, "daemon.json")
	// Its own configuration, never the machine's /etc/docker/daemon.json,
	// and its own identity key (the engine ID), not /etc/docker/key.json.
	config := fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(h.dir, "key.json"))
	if slices.Contains(opts.BuildKitOff, h.index) {
		// What an operator writes to keep the classic builder: the
		// engine says so in /_ping (Builder-Version: 1).
		config = fmt.Sprintf("{\"deprecated-key-path\": %q, \"features\": {\"buildkit\": false}}\n", filepath.Join(h.dir, "key.json"))
	}
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	args := []string{
		"--net=" + h.netns, "dockerd",
		"--config-file", configFile,
		"--data-root", filepath.Join(h.dir, "data"),
		"--exec-root", filepath.Join(h.dir, "exec"),
		"--pidfile", filepath.Join(h.dir, "docker.pid"),
		"-H", h.DockerHost,
		"--bip", fmt.Sprintf("10.%d.%d.1/24", n, 16+h.index),
		"--default-address-pool", fmt.Sprintf("base=10.%d.%d.0/20,size=24", n, 32+16*h.index),
		"--insecure-registry", h.hosts.Subnet,
		"--shutdown-timeout", "1",
	}
	if opts.SSH {
		args = append(args, "--group", SSHUser)
	}
	if h.TLS != nil {
		args = append(args, "-H", h.TLS.Host,
			"--tlsverify", "--tlscacert", h.TLS.caFile, "--tlscert", h.TLS.certFile, "--tlskey", h.TLS.keyFile)
	}
	p, err := startHostProcess("dockerd", filepath.Join(h.dir, "dockerd.log"), "nsenter", args...)
	if err != nil {
		return err
	}
	h.dockerd = p
	h.undo.push("stop dockerd", func() error { return h.stopDockerd() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.waitReady(ctx, func(ctx context.Context) error { return pingEngine(ctx, h.DockerSocket) })
}

// pingEngine asks the engine at socket for /_ping.
func pingEngine(ctx context.Context, socket string) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_ping: HTTP %d", resp.StatusCode)
	}
	return nil
}

// stopDockerd stops the engine, which stops its containers (within its
// --shutdown-timeout); what is still in the namespace after it is gone
// (a container whose engine had to be killed) is killed by PID, and mounts
// it left under the host's directory are detached.
func (h *Host) stopDockerd() error {
	var errs []error
	if err := h.dockerd.stop(20 * time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := killNamespaceProcesses(h.Name); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(h.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Docker runs the docker CLI against the host's engine and returns its
// trimmed stdout; the test fails when the command fails.
func (h *Host) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.DockerE(args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}

// DockerE runs the docker CLI against the host's engine.
func (h *Host) DockerE(args ...string) (string, error) {
	return DockerE(append([]string{"--host", h.DockerHost}, args...)...)
}

// LoadImages copies images of the shared engine into the host's engine
// (docker save | docker load); the test fails when one cannot be copied.
func (h *Host) LoadImages(t testing.TB, refs ...string) {
	t.Helper()
	if err := h.loadImages(refs...); err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
}

func (h *Host) loadImages(refs ...string) error {
	save := exec.Command("docker", append([]string{"save"}, refs...)...)
	load := exec.Command("docker", "--host", h.DockerHost, "load", "--quiet")
	var saveErr, loadErr bytes.Buffer
	save.Stderr, load.Stderr = &saveErr, &loadErr
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	load.Stdout = io.Discard
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	if err := load.Start(); err != nil {
		save.Process.Kill()
		save.Wait()
		return fmt.Errorf("docker load: %w", err)
	}
	loadWait := load.Wait()
	saveWait := save.Wait()
	if saveWait != nil {
		return fmt.Errorf("docker save %s: %v: %s", strings.Join(refs, " "), saveWait, strings.TrimSpace(saveErr.String()))
	}
	if loadWait != nil {
		return fmt.Errorf("docker load into %s: %v: %s", h.DockerHost, loadWait, strings.TrimSpace(loadErr.String()))
	}
	return nil
}
