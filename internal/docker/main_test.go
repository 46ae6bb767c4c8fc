package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// testAppImage is the test app (testdata/app) packaged FROM scratch, built
// once per test process through BuildImage, on first use.
var testAppImage struct {
	once     sync.Once
	ref, id  string
	progress []string
	err      error
}

func TestMain(m *testing.M) {
	// RunAndCleanUp removes what the run left labelled as its own, the
	// shared test images included, also when tests failed.
	os.Exit(acctest.RunAndCleanUp(m))
}

// testImage returns the test app image's tag and ID, building it on first
// use; the test fails when the build does.
func testImage(t *testing.T) (ref, id string) {
	t.Helper()
	acctest.RequireDocker(t)
	binary := acctest.TestImages(t).Binary
	testAppImage.once.Do(func() {
		testAppImage.ref, testAppImage.id, testAppImage.progress, testAppImage.err = buildTestApp(binary)
	})
	if testAppImage.err != nil {
		t.Fatalf("build the test app image: %v", testAppImage.err)
	}
	return testAppImage.ref, testAppImage.id
}

// buildTestApp packages the test app binary (internal/acctest/testapp)
// FROM scratch through BuildImage.
func buildTestApp(binaryPath string) (ref, id string, progress []string, err error) {
	binary, err := os.ReadFile(binaryPath)
	if err != nil {
		return "", "", nil, err
	}

	c, err := New(Config{})
	if err != nil {
		return "", "", nil, err
	}
	defer c.Close()
	ref = acctest.UniqueName("tinyforge-docker-testapp") + ":test"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.BuildImage(ctx, BuildSpec{
		Context: filesContext(map[string][]byte{
			"Dockerfile": []byte("FROM scratch\n" + acctest.BuildLabel(ref) + "\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"),
			"app":        binary,
		}),
		Tags:   []string{ref},
		Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()},
	}, func(line string) { progress = append(progress, line) })
	if err != nil {
		// A half-done build may still have tagged the image.
		_, _ = acctest.DockerE("rmi", ref)
		return "", "", nil, err
	}
	return ref, res.ImageID, progress, nil
}

// filesContext makes a build context of files (name -> content), all
// executable.
func filesContext(files map[string][]byte) BuildContext {
	var list []ContextFile
	for name, content := range files {
		list = append(list, ContextBytes(name, content, 0o755))
	}
	bc, err := NewBuildContext(list)
	if err != nil {
		panic(err)
	}
	return bc
}

// buildTiny builds a small labelled image (one file, an entrypoint that need
// not exist) under a unique tag, removed when the test ends.
func buildTiny(t *testing.T, c *Client, labels map[string]string) (ref, id string) {
	t.Helper()
	ref = acctest.UniqueName("tinyforge-docker-tiny") + ":test"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })
	all := map[string]string{acctest.LabelTestRun: acctest.RunID()}
	for k, v := range labels {
		all[k] = v
	}
	res, err := c.BuildImage(testContext(t), BuildSpec{
		Context: filesContext(map[string][]byte{
			"Dockerfile": []byte("FROM scratch\n" + acctest.BuildLabel(ref) + "\nCOPY x /x\nENTRYPOINT [\"/x\"]\n"),
			"x":          []byte(ref),
		}),
		Tags:   []string{ref},
		Labels: all,
	}, nil)
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	return ref, res.ImageID
}

// newClient connects to the local engine and closes the client when the test
// ends.
func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	acctest.RequireDocker(t)
	c, err := New(Config{}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testContext bounds one test's engine calls, so a hung engine fails the test
// instead of the whole run. Call it after the test's fixtures (testImage,
// buildTiny, a registry and its images): the first testImage of a process
// builds the shared images, which on a fresh or busy engine can take most
// of the deadline of whichever test happens to ask first.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requestLog is a transport wrapper that records every request it sees.
type requestLog struct {
	mu    sync.Mutex
	count atomic.Int64
	lines []string
}

func (l *requestLog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		l.count.Add(1)
		l.mu.Lock()
		l.lines = append(l.lines, req.Method+" "+req.URL.Path)
		l.mu.Unlock()
		return next.RoundTrip(req)
	})
}

func (l *requestLog) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// httpGet fetches url and returns the body; any failure or non-200 answer is
// an error.
func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}

// mustNotFound fails the test unless err is a wrapped ErrNotFound mentioning
// what.
func mustNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound for %s, got %v", what, err)
	}
	if !strings.Contains(err.Error(), what) {
		t.Fatalf("error %q does not name %s", err, what)
	}
}
