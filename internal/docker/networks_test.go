package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// removeNetworks removes every network named name (a broken EnsureNetwork
// could create several) when the test ends.
func removeNetworks(t *testing.T, name string) {
	t.Cleanup(func() {
		ids, _ := acctest.DockerE("network", "ls", "-q", "--filter", "name=^"+name+"$")
		for _, id := range strings.Fields(ids) {
			_, _ = acctest.DockerE("network", "rm", id)
		}
	})
}

func TestEnsureNetworkIsIdempotent(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-net")
	removeNetworks(t, name)
	labels := map[string]string{acctest.LabelTestRun: acctest.RunID(), "tinyforge.network": "yes"}

	id, err := c.EnsureNetwork(ctx, name, labels)
	if err != nil {
		t.Fatalf("first EnsureNetwork: %v", err)
	}
	first := acctest.Docker(t, "network", "inspect", "--format", "{{.ID}} {{.Driver}} {{index .Labels \"tinyforge.network\"}}", name)
	if !strings.HasPrefix(first, id+" ") {
		t.Fatalf("EnsureNetwork returned %s, the network is %q", id, first)
	}
	if again, err := c.EnsureNetwork(ctx, name, map[string]string{acctest.LabelTestRun: acctest.RunID()}); err != nil || again != id {
		t.Fatalf("second EnsureNetwork: %s, %v; want %s", again, err, id)
	}
	second := acctest.Docker(t, "network", "inspect", "--format", "{{.ID}} {{.Driver}} {{index .Labels \"tinyforge.network\"}}", name)
	if !strings.HasSuffix(first, " bridge yes") {
		t.Fatalf("network %s is %q, want a bridge with the given labels", name, first)
	}
	if first != second {
		t.Fatalf("second EnsureNetwork changed the network: %q -> %q", first, second)
	}
}

// TestEnsureNetworkConcurrently races ten clients, as ten parallel applies in
// separate provider processes would: exactly one network results, no call
// fails, and every call returns that network's ID (a container joining by it
// never meets an "ambiguous" name while a duplicate is being removed).
func TestEnsureNetworkConcurrently(t *testing.T) {
	t.Parallel()
	acctest.RequireDocker(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-net")
	removeNetworks(t, name)
	labels := map[string]string{acctest.LabelTestRun: acctest.RunID()}

	var wg sync.WaitGroup
	errs := make([]error, 10)
	got := make([]string, 10)
	for i := range errs {
		c := newClient(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.EnsureNetwork(ctx, name, labels)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureNetwork #%d: %v", i, err)
		}
	}
	ids := strings.Fields(acctest.Docker(t, "network", "ls", "-q", "--filter", "name=^"+name+"$"))
	if len(ids) != 1 {
		t.Fatalf("want exactly one network %s, got %d: %v", name, len(ids), ids)
	}
	for i, id := range got {
		if !strings.HasPrefix(id, ids[0]) {
			t.Errorf("EnsureNetwork #%d returned %s, but the network that stays is %s", i, id, ids[0])
		}
	}
}

// TestStartContainerSurvivesADuplicateNetwork plays the race that leaves two
// networks of one name (an engine before API 1.44 creates them without an
// atomic name check): a container on the network must still start, and the
// newer, empty duplicate is removed.
func TestStartContainerSurvivesADuplicateNetwork(t *testing.T) {
	t.Parallel()
	ref, _ := testImage(t)
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-net")
	removeNetworks(t, name)
	netID, err := c.EnsureNetwork(ctx, name, map[string]string{acctest.LabelTestRun: acctest.RunID()})
	if err != nil {
		t.Fatal(err)
	}
	container := acctest.UniqueName("tinyforge-docker-dupnet")
	removeContainer(t, container)
	id, err := c.CreateContainer(ctx, ContainerSpec{
		Name: container, Image: ref, Network: netID, Port: 8080, PublishAddress: "127.0.0.1",
		Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The racing process's copy: the docker CLI and client always ask the
	// engine for its (non-atomic) duplicate check, so ask the API directly.
	body := fmt.Sprintf(`{"Name": %q, "CheckDuplicate": false, "Labels": {%q: %q}}`, name, acctest.LabelTestRun, acctest.RunID())
	raw := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
	}}}
	resp, err := raw.Post("http://docker/v1.41/networks/create", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("create the duplicate network: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the duplicate network: HTTP %d", resp.StatusCode)
	}
	if ids := strings.Fields(acctest.Docker(t, "network", "ls", "-q", "--filter", "name=^"+name+"$")); len(ids) != 2 {
		t.Fatalf("the test needs two networks named %s, got %v", name, ids)
	}

	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer with a duplicate network: %v", err)
	}
	ids := strings.Fields(acctest.Docker(t, "network", "ls", "-q", "--filter", "name=^"+name+"$"))
	if len(ids) != 1 || !strings.HasPrefix(netID, ids[0]) {
		t.Fatalf("after the start, networks %v; want only the first, %s", ids, netID)
	}
}
