package acctest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// HTTPGetPackage is the import path of the tests' in-container HTTP client
// (see internal/acctest/httpget).
const HTTPGetPackage = modulePath + "/internal/acctest/httpget"

var httpGetImage = sync.OnceValues(func() (string, error) {
	dir, err := scratchDir("httpget")
	if err != nil {
		return "", err
	}
	if err := goBuild(context.Background(), filepath.Join(dir, "httpget"), HTTPGetPackage, "CGO_ENABLED=0", "GOOS=linux"); err != nil {
		return "", err
	}
	// One of the test image references, so that RemoveTestImages removes
	// it with them; its layers are this process's (BuildLabel).
	ref := TestImageRef("httpget")
	dockerfile := fmt.Sprintf("FROM scratch\n%s\nCOPY httpget /httpget\nENTRYPOINT [\"/httpget\"]\n", BuildLabel(testImagesOwner))
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	if _, err := DockerBuildE("--tag", ref, dir); err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	return ref, nil
})

// HTTPGetImage builds, once per process, an image FROM scratch whose
// entrypoint is the httpget command: `docker run --rm <it> [-all] URL...`
// prints "<status> <first body line>" per answer (with -all, per address
// the URL's name resolves to), and exits 1 when any failed. The test fails
// when it does not build; RunAndCleanUp removes it.
func HTTPGetImage(t testing.TB) string {
	t.Helper()
	RequireDocker(t)
	ref, err := httpGetImage()
	if err != nil {
		t.Fatalf("build the httpget image: %v", err)
	}
	return ref
}
