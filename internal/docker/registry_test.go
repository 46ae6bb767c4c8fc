package docker

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// layerSizeMB makes a layer big enough that the engine reports its download
// progress several times over a slow link.
const layerSizeMB = 2

// slowAndCorrupting plays the network between the engine and a real
// registry: large blobs trickle in, as over a real link, so that the engine
// reports download progress more than once (it throttles its own updates by
// time); blobs of a repository named "*corrupt*" arrive with a byte flipped,
// which the engine must detect mid-stream. A real registry never serves a
// corrupt blob, so only the network can be made to.
func slowAndCorrupting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		blob := rec.Body.Bytes()
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		if rec.Code != http.StatusOK || len(blob) < 1<<20 {
			w.Write(blob)
			return
		}
		if strings.Contains(r.URL.Path, "corrupt") {
			blob = slices.Clone(blob)
			blob[len(blob)/2] ^= 0xff
		}
		chunk := len(blob)/6 + 1
		for off := 0; off < len(blob); off += chunk {
			w.Write(blob[off:min(off+chunk, len(blob))])
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	})
}

// pushBigImage builds a FROM scratch image of one layer of layerSizeMB of
// random bytes, labelled as this run's, and pushes it to the registry as
// repo:tag. It returns the reference, absent from the engine.
func pushBigImage(t *testing.T, reg *acctest.Registry, repo string) string {
	t.Helper()
	dir := t.TempDir()
	payload := make([]byte, layerSizeMB<<20)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "payload"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	// The build's own first layer: the other test of this file builds
	// the same way and removes its image while this one may be building.
	dockerfile := "FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\nCOPY payload /payload\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	local := acctest.UniqueName("tinyforge-pull-src") + ":1"
	acctest.DockerBuild(t, "--tag", local, dir)
	ref := reg.Push(t, local, repo)
	// The engine must not keep the layer: the pull has to fetch it.
	acctest.Docker(t, "rmi", local)
	return ref
}

func TestPullImageReportsProgressOncePerStatus(t *testing.T) {
	t.Parallel()
	// Tee the engine's raw pull stream, to compare what it sent with what
	// was reported.
	var raw bytes.Buffer
	var rawMu sync.Mutex
	tee := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err == nil && strings.HasSuffix(req.URL.Path, "/images/create") {
				resp.Body = struct {
					io.Reader
					io.Closer
				}{io.TeeReader(resp.Body, lockedWriter{&rawMu, &raw}), resp.Body}
			}
			return resp, err
		})
	}
	c := newClient(t, WithTransport(tee))
	reg := acctest.StartRegistryBehind(t, slowAndCorrupting)
	ref := pushBigImage(t, reg, acctest.UniqueName("pull")+":good")
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })
	ctx := testContext(t)

	var lines []string
	if err := c.PullImage(ctx, ref, func(line string) { lines = append(lines, line) }); err != nil {
		t.Fatalf("PullImage(%s): %v", ref, err)
	}
	t.Logf("progress: %q", lines)
	img, err := c.InspectImage(ctx, ref)
	if err != nil || img.Labels[acctest.LabelTestRun] != acctest.RunID() {
		t.Fatalf("the pulled image: %+v, %v", img, err)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, ": Pull complete") }) {
		t.Fatalf("progress lacks the layer's Pull complete: %q", lines)
	}
	// The engine sends many "Downloading" updates for a 2 MB layer; each
	// status is reported once.
	rawMu.Lock()
	sent := strings.Count(raw.String(), `"status":"Downloading"`)
	rawMu.Unlock()
	if sent < 2 {
		t.Fatalf("the engine sent %d Downloading messages; the test needs several to check throttling", sent)
	}
	counts := map[string]int{}
	for _, l := range lines {
		id, rest, _ := strings.Cut(l, ": ")
		status, _, _ := strings.Cut(rest, " [")
		counts[id+": "+status]++
	}
	for status, n := range counts {
		if n > 1 {
			t.Errorf("status %q reported %d times: %q", status, n, lines)
		}
	}
}

func TestPullImageCorruptLayerFailsWithTheStreamError(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	reg := acctest.StartRegistryBehind(t, slowAndCorrupting)
	ref := pushBigImage(t, reg, acctest.UniqueName("pull-corrupt")+":bad")
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })
	ctx := testContext(t)

	err := c.PullImage(ctx, ref, nil)
	if err == nil {
		t.Fatalf("pulling a corrupt layer succeeded")
	}
	t.Logf("pull error: %v", err)
	if !strings.HasPrefix(err.Error(), "pull "+ref+": ") || !strings.Contains(err.Error(), "verification failed") {
		t.Fatalf("error %q: want the reference and the engine's verification error", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPushImageSendsTheRegistryLogin: an image built here is pushed under
// another name to a registry that asks for a login, with the login of its
// registry_auth; ImageDigestRef then pins what the registry holds. Without
// the login the push fails naming the registry, never the password.
func TestPushImageSendsTheRegistryLogin(t *testing.T) {
	t.Parallel()
	reg := acctest.StartRegistry(t)
	reg.RequireLogin("pusher", "push-pw-9f2c")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"+acctest.UniqueBuildLabel(t)+"\nCOPY hello /hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	local := acctest.UniqueName("tinyforge-push-src") + ":1"
	acctest.DockerBuild(t, "--tag", local, dir)
	remote := reg.Addr + "/built/" + acctest.UniqueName("app") + ":c0ffee"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", local, remote) })
	ctx := testContext(t)

	anonymous := newClient(t)
	err := anonymous.PushImage(ctx, local, remote, nil)
	if err == nil || !strings.Contains(err.Error(), "registry "+reg.Addr+" asks for credentials") {
		t.Fatalf("a push without the login: %v", err)
	}
	t.Logf("without the login: %v", err)
	c := newClient(t, WithRegistries(&Registries{Logins: []RegistryLogin{{Address: reg.Addr, Username: "pusher", Password: "push-pw-9f2c"}}}))
	var progress []string
	if err := c.PushImage(ctx, local, remote, func(line string) { progress = append(progress, line) }); err != nil {
		t.Fatalf("PushImage with the login: %v", err)
	}
	if len(progress) == 0 {
		t.Errorf("the push reported no progress")
	}
	pinned, err := c.ImageDigestRef(ctx, remote)
	if err != nil {
		t.Fatalf("ImageDigestRef(%s): %v", remote, err)
	}
	repo, _, _ := strings.Cut(remote, ":c0ffee")
	digests := acctest.Docker(t, "image", "inspect", "--format", "{{json .RepoDigests}}", local)
	tagged, dgst, _ := strings.Cut(pinned, "@")
	if tagged != remote || !strings.HasPrefix(dgst, "sha256:") || !strings.Contains(digests, `"`+repo+"@"+dgst+`"`) {
		t.Fatalf("pinned %q: want %s@sha256:... with a digest among the image's repo digests %s", pinned, remote, digests)
	}
}
