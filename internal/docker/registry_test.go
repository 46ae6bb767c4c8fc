package docker

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

const (
	manifestV2  = "application/vnd.docker.distribution.manifest.v2+json"
	configV1    = "application/vnd.docker.container.image.v1+json"
	layerTarGz  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	layerSizeMB = 2 // big enough that the engine reports download progress several times
)

// registryStandIn is a stand-in for a hosted container registry (none can run
// or be reached here). It serves the Registry HTTP API V2 the way the engine
// uses it on a pull: GET /v2/, then the manifest by tag or digest (the engine
// must accept the Docker v2 schema 2 manifest type), then the config and layer
// blobs by digest. Anything else fails the test. Each repository holds one
// image of one layer; a corrupt repository serves a layer whose content does
// not match its digest, which the engine detects mid-stream.
type registryStandIn struct {
	t     *testing.T
	mu    sync.Mutex
	blobs map[string][]byte // digest -> content
	tags  map[string][]byte // "repo:tag" and "repo:digest" -> manifest
	seen  []string
}

func newRegistryStandIn(t *testing.T) (*registryStandIn, string) {
	r := &registryStandIn{t: t, blobs: map[string][]byte{}, tags: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	return r, strings.TrimPrefix(srv.URL, "http://")
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// addImage adds repo:tag, an image of one layer with a random file, labelled
// as this test run's. corrupt serves other bytes for the layer than its
// digest says.
func (r *registryStandIn) addImage(repo, tag string, corrupt bool) {
	payload := make([]byte, layerSizeMB<<20)
	if _, err := rand.Read(payload); err != nil {
		r.t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "payload", Mode: 0o644, Size: int64(len(payload))}); err != nil {
		r.t.Fatal(err)
	}
	tw.Write(payload)
	tw.Close()
	layerDigest := digestOf(layer.Bytes())

	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{acctest.LabelTestRun: acctest.RunID()}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestV2,
		"config":        map[string]any{"mediaType": configV1, "size": len(config), "digest": digestOf(config)},
		"layers":        []map[string]any{{"mediaType": layerTarGz, "size": layer.Len(), "digest": layerDigest}},
	})

	served := layer.Bytes()
	if corrupt {
		served = slices.Clone(served)
		served[len(served)/2] ^= 0xff
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs[digestOf(config)] = config
	r.blobs[layerDigest] = served
	r.tags[repo+":"+tag] = manifest
	r.tags[repo+":"+digestOf(manifest)] = manifest // the engine fetches by digest after a HEAD by tag
}

func (r *registryStandIn) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path)
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		r.t.Errorf("registry stand-in: unexpected %s %s", req.Method, req.URL.Path)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	path := req.URL.Path
	switch {
	case path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(path, "/manifests/"):
		repo, tag, _ := strings.Cut(strings.TrimPrefix(path, "/v2/"), "/manifests/")
		manifest, ok := r.tags[repo+":"+tag]
		if !ok {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		if !strings.Contains(strings.Join(req.Header.Values("Accept"), ","), manifestV2) {
			r.t.Errorf("registry stand-in: manifest request does not accept %s: %q", manifestV2, req.Header.Values("Accept"))
		}
		w.Header().Set("Content-Type", manifestV2)
		w.Header().Set("Docker-Content-Digest", digestOf(manifest))
		w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
		w.Write(manifest)
	case strings.Contains(path, "/blobs/"):
		_, digest, _ := strings.Cut(path, "/blobs/")
		blob, ok := r.blobs[digest]
		if !ok {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
		if len(blob) < 1<<20 || req.Method == http.MethodHead {
			w.Write(blob)
			return
		}
		// A layer trickles in, as over a real network, so that the engine
		// reports its download progress more than once (it throttles its
		// own updates by time).
		chunk := len(blob)/6 + 1
		for off := 0; off < len(blob); off += chunk {
			w.Write(blob[off:min(off+chunk, len(blob))])
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	default:
		r.t.Errorf("registry stand-in: unexpected %s %s", req.Method, path)
		http.NotFound(w, req)
	}
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
	ctx := testContext(t)
	reg, addr := newRegistryStandIn(t)
	repo := acctest.UniqueName("pull")
	reg.addImage(repo, "good", false)
	ref := addr + "/" + repo + ":good"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })

	var lines []string
	if err := c.PullImage(ctx, ref, func(line string) { lines = append(lines, line) }); err != nil {
		t.Fatalf("PullImage(%s): %v\nrequests: %q", ref, err, reg.seen)
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
	ctx := testContext(t)
	reg, addr := newRegistryStandIn(t)
	repo := acctest.UniqueName("pull")
	reg.addImage(repo, "bad", true)
	ref := addr + "/" + repo + ":bad"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })

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
