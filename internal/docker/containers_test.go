package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// removeContainer force-removes a test's container by name when the test
// ends, with the docker CLI so that cleanup does not depend on the code under
// test.
func removeContainer(t *testing.T, name string) {
	t.Cleanup(func() { _, _ = acctest.DockerE("rm", "-f", "-v", name) })
}

// findContainer returns the container with that ID from a list.
func findContainer(t *testing.T, list []Container, id string) Container {
	t.Helper()
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("container %s is not in the list %+v", id, list)
	return Container{}
}

func TestContainerLifecycle(t *testing.T) {
	t.Parallel()
	ref, _ := testImage(t)
	c := newClient(t)
	ctx := testContext(t)

	name := acctest.UniqueName("tinyforge-docker-ct")
	netName := name + "-net"
	removeNetworks(t, netName)
	if _, err := c.EnsureNetwork(ctx, netName, map[string]string{acctest.LabelTestRun: acctest.RunID()}); err != nil {
		t.Fatalf("EnsureNetwork: %v", err)
	}
	volume := name + "-data"
	acctest.Docker(t, "volume", "create", "--label", acctest.LabelTestRun+"="+acctest.RunID(), volume)
	t.Cleanup(func() { _, _ = acctest.DockerE("volume", "rm", "-f", volume) })
	bindDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindDir, "hello.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	listKey := "tinyforge.test." + name // only this container carries it

	removeContainer(t, name)
	id, err := c.CreateContainer(ctx, ContainerSpec{
		Name:    name,
		Image:   ref,
		Env:     []string{"GREETING=lifecycle"},
		Labels:  map[string]string{acctest.LabelTestRun: acctest.RunID(), listKey: "1"},
		Network: netName, NetworkAliases: []string{name + "-alias"},
		Port:           8080,
		PublishAddress: "127.0.0.1",
		Mounts: []Mount{
			{Type: "volume", Source: volume, Target: "/data"},
			{Source: bindDir, Target: "/bind", ReadOnly: true}, // type inferred from the absolute path
		},
		RestartPolicy: "unless-stopped",
		StopTimeout:   2500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}

	// What the engine recorded, read with the CLI.
	got := acctest.Docker(t, "inspect", "--format",
		"{{.Config.StopTimeout}} {{.HostConfig.RestartPolicy.Name}} {{index .NetworkSettings.Networks \""+netName+"\" | json}}", id)
	if !strings.HasPrefix(got, "3 unless-stopped ") || !strings.Contains(got, name+"-alias") {
		t.Fatalf("engine recorded %q: want stop timeout 3 (2.5s rounded up), unless-stopped, alias %s-alias", got, name)
	}

	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}

	list, err := c.ListContainers(ctx, listKey)
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListContainers(%s) = %d containers, want 1", listKey, len(list))
	}
	// key=value narrows the list to that value.
	if byValue, err := c.ListContainers(ctx, listKey+"=1"); err != nil || len(byValue) != 1 {
		t.Fatalf("ListContainers(%s=1) = %d containers, %v; want 1", listKey, len(byValue), err)
	}
	if other, err := c.ListContainers(ctx, listKey+"=2"); err != nil || len(other) != 0 {
		t.Fatalf("ListContainers(%s=2) = %d containers, %v; want none", listKey, len(other), err)
	}
	ct := findContainer(t, list, id)
	if ct.Name != name || ct.Image != ref || ct.State != "running" || !ct.Running() || ct.Labels[listKey] != "1" {
		t.Fatalf("listed %+v: want name %s, image %s, running, labels", ct, name, ref)
	}
	if ct.Created.IsZero() || ct.ImageID == "" {
		t.Fatalf("listed %+v: want created time and image ID", ct)
	}
	if len(ct.Ports) != 1 || ct.Ports[0].ContainerPort != 8080 || ct.Ports[0].HostIP != "127.0.0.1" || ct.Ports[0].HostPort == 0 || ct.Ports[0].Protocol != "tcp" {
		t.Fatalf("listed ports %+v: want 8080/tcp on 127.0.0.1:<ephemeral>", ct.Ports)
	}
	wantMounts := []Mount{
		{Type: "bind", Source: bindDir, Target: "/bind", ReadOnly: true},
		{Type: "volume", Source: volume, Target: "/data"},
	}
	gotMounts := slices.Clone(ct.Mounts)
	slices.SortFunc(gotMounts, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	if !slices.Equal(gotMounts, wantMounts) {
		t.Fatalf("listed mounts %+v, want %+v", gotMounts, wantMounts)
	}

	base := fmt.Sprintf("http://127.0.0.1:%d", ct.Ports[0].HostPort)
	var body string
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the app answers on "+base, func() bool {
		body, err = httpGet(base + "/env/GREETING")
		return err == nil
	})
	if body != "lifecycle" {
		t.Fatalf("GET / = %q, want the greeting from the env", body)
	}
	if body, err := httpGet(base + "/file?path=/bind/hello.txt"); err != nil || body != "from the host" {
		t.Fatalf("reading the bind mount: %q, %v", body, err)
	}

	var logs []string
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the startup lines in the logs", func() bool {
		logs, err = c.ContainerLogs(ctx, id, 10)
		return err == nil && slices.Contains(logs, "testapp dev listening on :8080") && slices.ContainsFunc(logs, func(l string) bool { return strings.HasPrefix(l, "testapp serves GET /") })
	})
	if last, err := c.ContainerLogs(ctx, id, 1); err != nil || len(last) != 1 {
		t.Fatalf("ContainerLogs(1) = %q, %v: want exactly one line", last, err)
	}

	d, err := c.InspectContainer(ctx, name)
	if err != nil {
		t.Fatalf("InspectContainer: %v", err)
	}
	if d.ID != id || d.Name != name || d.Image != ref || d.State != "running" || d.StartedAt.IsZero() || !d.FinishedAt.IsZero() {
		t.Fatalf("inspected %+v", d)
	}
	if !slices.Contains(d.Env, "GREETING=lifecycle") {
		t.Fatalf("inspected env %q lacks GREETING", d.Env)
	}
	if len(d.Ports) != 1 || d.Ports[0] != ct.Ports[0] {
		t.Fatalf("inspected ports %+v, listed %+v", d.Ports, ct.Ports)
	}

	if err := c.StopContainer(ctx, id, 5*time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if d, err := c.InspectContainer(ctx, id); err != nil || d.State != "exited" || d.FinishedAt.IsZero() {
		t.Fatalf("after stop: state %q finished %v, %v: want exited", d.State, d.FinishedAt, err)
	}
	list, err = c.ListContainers(ctx, listKey)
	if err != nil || len(list) != 1 || list[0].State != "exited" || list[0].Running() || len(list[0].Ports) != 0 {
		t.Fatalf("after stop, listed %+v, %v: want one exited container without ports", list, err)
	}
	if err := c.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatalf("stopping a stopped container: %v", err)
	}

	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	_, err = c.InspectContainer(ctx, id)
	mustNotFound(t, err, id)
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("second RemoveContainer: %v", err)
	}
	if err := c.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatalf("stopping a removed container: %v", err)
	}
	if list, err := c.ListContainers(ctx, listKey); err != nil || len(list) != 0 {
		t.Fatalf("after remove, listed %+v, %v", list, err)
	}
	// Named volumes are data: removing the container keeps them.
	acctest.Docker(t, "volume", "inspect", volume)
}

func TestContainerFixedHostPort(t *testing.T) {
	t.Parallel()
	ref, _ := testImage(t)
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-ct")
	port := acctest.FreePort(t)
	listKey := "tinyforge.test." + name

	removeContainer(t, name)
	id, err := c.CreateContainer(ctx, ContainerSpec{
		Name:           name,
		Image:          ref,
		Env:            []string{"GREETING=fixed", "PORT=9090"},
		Labels:         map[string]string{acctest.LabelTestRun: acctest.RunID(), listKey: "1"},
		Port:           9090,
		PublishAddress: "127.0.0.1",
		HostPort:       port,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	list, err := c.ListContainers(ctx, listKey)
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	ct := findContainer(t, list, id)
	want := Port{ContainerPort: 9090, HostIP: "127.0.0.1", HostPort: port, Protocol: "tcp"}
	if len(ct.Ports) != 1 || ct.Ports[0] != want {
		t.Fatalf("listed ports %+v, want %+v", ct.Ports, want)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/env/GREETING", port)
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the app answers on "+url, func() bool {
		body, err := httpGet(url)
		return err == nil && body == "fixed"
	})
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("RemoveContainer of a running container: %v", err)
	}
	if _, err := acctest.DockerE("inspect", id); err == nil {
		t.Fatalf("container %s still exists after RemoveContainer", id)
	}
}

func TestCreateContainerErrors(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-ct")
	removeContainer(t, name)

	absent := "tinyforge-absent-" + acctest.RunID() + ":none"
	_, err := c.CreateContainer(ctx, ContainerSpec{Name: name, Image: absent})
	mustNotFound(t, err, absent)
	if !strings.HasPrefix(err.Error(), "create container "+name+": ") {
		t.Fatalf("error %q does not start with the operation and the name", err)
	}

	for _, tc := range []struct {
		spec ContainerSpec
		want string
	}{
		{ContainerSpec{Image: absent}, "name is empty"},
		{ContainerSpec{Name: name, Image: absent, Mounts: []Mount{{Type: "tmpfs", Source: "x", Target: "/x"}}}, `got "tmpfs"`},
		{ContainerSpec{Name: name, Image: absent, Mounts: []Mount{{Source: "data"}}}, "source and target"},
		{ContainerSpec{Name: name, Image: absent, Port: 70000}, "got 70000"},
		{ContainerSpec{Name: name, Image: absent, Port: 80, HostPort: -1}, "got -1"},
	} {
		if _, err := c.CreateContainer(ctx, tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateContainer(%+v) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestInspectContainerNotFound(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	name := acctest.UniqueName("tinyforge-absent")
	_, err := c.InspectContainer(context.Background(), name)
	mustNotFound(t, err, name)
	_, err = c.ContainerLogs(context.Background(), name, 5)
	mustNotFound(t, err, name)
}
