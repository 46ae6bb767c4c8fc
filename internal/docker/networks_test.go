package docker

import (
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

	if err := c.EnsureNetwork(ctx, name, labels); err != nil {
		t.Fatalf("first EnsureNetwork: %v", err)
	}
	first := acctest.Docker(t, "network", "inspect", "--format", "{{.ID}} {{.Driver}} {{index .Labels \"tinyforge.network\"}}", name)
	if err := c.EnsureNetwork(ctx, name, map[string]string{acctest.LabelTestRun: acctest.RunID()}); err != nil {
		t.Fatalf("second EnsureNetwork: %v", err)
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
// separate provider processes would: exactly one network results and no call
// fails.
func TestEnsureNetworkConcurrently(t *testing.T) {
	t.Parallel()
	acctest.RequireDocker(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-net")
	removeNetworks(t, name)
	labels := map[string]string{acctest.LabelTestRun: acctest.RunID()}

	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		c := newClient(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.EnsureNetwork(ctx, name, labels)
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
}
