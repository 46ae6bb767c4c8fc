package docker

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestVolumesByLabel: a volume is created with its labels, listed by them,
// refused when the name exists, and removed (twice: gone is not an error).
func TestVolumesByLabel(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-vol")
	t.Cleanup(func() { acctest.DockerE("volume", "rm", "-f", name) })
	labels := map[string]string{acctest.LabelTestRun: acctest.RunID(), "tinyforge.record": name}
	if err := c.CreateVolume(ctx, name, labels); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateVolume(ctx, name, labels); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second create of %s: %v", name, err)
	}
	vols, err := c.ListVolumes(ctx, "tinyforge.record="+name)
	if err != nil || len(vols) != 1 || vols[0].Name != name || vols[0].Labels["tinyforge.record"] != name || vols[0].CreatedAt == "" {
		t.Fatalf("ListVolumes: %+v %v", vols, err)
	}
	if err := c.RemoveVolume(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveVolume(ctx, name); err != nil {
		t.Fatalf("removing a volume already gone: %v", err)
	}
	if vols, _ := c.ListVolumes(ctx, "tinyforge.record="+name); len(vols) != 0 {
		t.Fatalf("after the removal: %+v", vols)
	}
}
