package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// EnsureNetwork creates the named bridge network with labels when it does not
// exist yet (an existing network is left as it is) and returns its ID.
// Containers should join it by that ID, not by name.
//
// Terraform applies resources in parallel, and several terraform runs may
// share one engine, so calls race. Within this client they take turns. Across
// processes the engine's duplicate-name check (API < 1.44) is not atomic and
// racing creates can leave several networks of the same name; every caller
// then keeps the oldest and removes the newer, empty copies, and returns the
// oldest's ID: all racers converge on one network, and a container created
// while a duplicate still exists joins the one that stays (by name, the
// engine would refuse it as "ambiguous").
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
	c.networkMu.Lock()
	defer c.networkMu.Unlock()

	existing, err := c.api.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case err == nil:
		return existing.ID, nil
	case cerrdefs.IsNotFound(err):
		_, err = c.api.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels})
		if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already exists") {
			return "", fmt.Errorf("create network %s: %w", name, err)
		}
	case strings.Contains(err.Error(), "ambiguous"):
		// Duplicates from an earlier race: converge below.
	default:
		return "", fmt.Errorf("inspect network %s: %w", name, err)
	}
	return c.dedupeNetwork(ctx, name)
}

// dedupeNetwork keeps the oldest network called name, removes newer copies
// that no container uses, and returns the oldest's ID. A newer copy in use is
// an error: removing it would cut a workload off.
func (c *Client) dedupeNetwork(ctx context.Context, name string) (string, error) {
	list, err := c.api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return "", fmt.Errorf("list networks named %s: %w", name, err)
	}
	var same []network.Summary
	for _, n := range list {
		// The engine's name filter matches substrings too.
		if n.Name == name {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		return "", fmt.Errorf("network %s: created, but the engine does not list it", name)
	}
	sort.Slice(same, func(i, j int) bool {
		if !same[i].Created.Equal(same[j].Created) {
			return same[i].Created.Before(same[j].Created)
		}
		return same[i].ID < same[j].ID
	})
	for _, n := range same[1:] {
		detail, err := c.api.NetworkInspect(ctx, n.ID, network.InspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue // another racer removed it
		}
		if err != nil {
			return "", fmt.Errorf("inspect duplicate network %s (%s): %w", name, n.ID, err)
		}
		if len(detail.Containers) > 0 {
			return "", fmt.Errorf("network %s exists %d times and the copy %s has containers: remove the duplicate by hand", name, len(same), n.ID)
		}
		if err := c.api.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("remove duplicate network %s (%s): %w", name, n.ID, err)
		}
	}
	return same[0].ID, nil
}
