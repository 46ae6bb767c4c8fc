package gitbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// CacheRoot is where Git sources keep each workload's repository between
// deploys (git.CloneCached), on the machine that runs the provider:
// CacheRoot/<workload>/<hash of the remote URL>. The provider may set it;
// by default the user's cache directory.
var CacheRoot = CacheDir("git")

// CacheDir is the directory named sub of the provider's in the user's
// cache directory (the system's temporary directory when there is none).
func CacheDir(sub string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "tinyforge", sub)
}

// cacheDir is the cached repository of workload's remote cloneURL (which
// holds no credentials). The workload's caches of other remotes (the URL
// changed) are removed: one workload keeps one repository.
func cacheDir(workload, cloneURL string) string {
	sum := sha256.Sum256([]byte(cloneURL))
	name := hex.EncodeToString(sum[:8])
	root := filepath.Join(CacheRoot, workload)
	if entries, err := os.ReadDir(root); err == nil {
		for _, e := range entries {
			if e.Name() != name {
				os.RemoveAll(filepath.Join(root, e.Name()))
			}
		}
	}
	return filepath.Join(root, name)
}

// Forget removes the workload's cached repository, once the workload is
// gone (plugin.Forgetter).
func Forget(workload string) error {
	if err := os.RemoveAll(filepath.Join(CacheRoot, workload)); err != nil {
		return fmt.Errorf("remove the cached repository of workload %q: %w", workload, err)
	}
	return nil
}
