package compose

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// racingAPI is the real engine, except that its first raced image builds
// end as the engine ends one that lost an image in its cache lookup (a race
// no test can bring about on demand): the context read to its end, then
// the engine's error message in the build's output stream.
type racingAPI struct {
	client.APIClient
	builds, raced atomic.Int32
}

func (a *racingAPI) ImageBuild(ctx context.Context, buildContext io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	n := a.builds.Add(1)
	if a.raced.Add(-1) < 0 {
		return a.APIClient.ImageBuild(ctx, buildContext, opts)
	}
	if _, err := io.Copy(io.Discard, buildContext); err != nil {
		return build.ImageBuildResponse{}, err
	}
	msg := fmt.Sprintf(`unable to find image \"sha256:%064x\"`, n)
	stream := `{"stream":"Step 1/4 : FROM scratch\n"}` + "\n" +
		`{"errorDetail":{"message":"` + msg + `"},"error":"` + msg + `"}` + "\n"
	return build.ImageBuildResponse{Body: io.NopCloser(strings.NewReader(stream))}, nil
}

// TestUpAgainWhenTheEngineLosesACachedImage: an Up whose build the engine's
// cache-lookup race failed ups again and the project runs; a race met at
// every attempt fails after 3 builds (docker.BuildCacheRaceRetry) with the
// engine's words.
func TestUpAgainWhenTheEngineLosesACachedImage(t *testing.T) {
	t.Parallel()
	api := &racingAPI{APIClient: newRuntime(t).api}
	rt := New(api)
	ctx := testContext(t)
	f := newFixture(t, rt)
	p := f.load(t, nil)

	api.raced.Store(1)
	if err := rt.Up(ctx, p, f.upOptions(t)); err != nil {
		t.Fatalf("Up after one lost cache lookup: %v", err)
	}
	// One lost, one built; or a third, when the engine's own race struck
	// the second (seen in a full run: the engine is shared with tests
	// whose cleanups remove images).
	if n := api.builds.Load(); n != 2 && n != 3 {
		t.Errorf("web was built %d times, want 2 (one lost, one built)", n)
	}
	addr, ok := psServices(t, rt, f, p)["web"].HostAddress(8080)
	if !ok {
		t.Fatal("web's 8080 is not published after the Up")
	}
	if body, err := get("http://" + addr.String() + "/"); err != nil || body != "web-v1\n" {
		t.Errorf("GET web after the Up: %q, %v", body, err)
	}

	api.builds.Store(0)
	api.raced.Store(99)
	err := rt.Up(ctx, f.load(t, map[string]string{"WEB_VERSION": "v2"}), f.upOptions(t))
	if err == nil || !strings.Contains(err.Error(), `unable to find image "sha256:`) {
		t.Errorf("Up with the race at every build: %v, want the engine's words", err)
	}
	if n := api.builds.Load(); n != 3 {
		t.Errorf("with the race at every build, web was built %d times, want 3", n)
	}
	api.raced.Store(0)
}
