package dockerfile

import (
	"fmt"
	"os"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// TestMain keeps the cached repositories of the tests' workloads in a
// directory of the run's own, removed at the end.
func TestMain(m *testing.M) {
	root, err := os.MkdirTemp("", "tinyforge-git-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gitbuild.CacheRoot = root
	code := acctest.RunAndCleanUp(m)
	os.RemoveAll(root)
	os.Exit(code)
}
