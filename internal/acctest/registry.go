package acctest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is a real container registry (go-containerregistry's
// implementation of the distribution API, in memory) on a 127.0.0.1 port:
// the Docker engine pushes to it and pulls from it over plain HTTP, as it
// does to any registry on a loopback address. It lets tests prove pulls
// without the internet.
type Registry struct {
	// Addr is "127.0.0.1:<port>", the registry part of an image reference.
	Addr string

	login atomic.Pointer[[2]string] // username, password; nil: open
}

// RequireLogin makes the registry refuse every request without that basic
// auth login (401 with a Basic challenge, as a private registry does),
// from now on: push the images first.
func (r *Registry) RequireLogin(username, password string) {
	r.login.Store(&[2]string{username, password})
}

// StartRegistry starts a registry that lives until the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	return StartRegistryBehind(t, nil)
}

// StartRegistryBehind starts a registry whose answers pass through network,
// a middleware that plays the network between the engine and the registry
// (a slow link, a corrupted transfer); nil is a perfect network.
func StartRegistryBehind(t testing.TB, network func(http.Handler) http.Handler) *Registry {
	t.Helper()
	reg := &Registry{}
	var h http.Handler = registry.New(registry.Logger(discardLogger()))
	if network != nil {
		h = network(h)
	}
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if login := reg.login.Load(); login != nil {
			user, pass, ok := req.BasicAuth()
			if !ok || user != login[0] || pass != login[1] {
				w.Header().Set("WWW-Authenticate", `Basic realm="tinyforge test registry"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		inner.ServeHTTP(w, req)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	reg.Addr = strings.TrimPrefix(srv.URL, "http://")
	return reg
}

// discardLogger is the registry's logger: its request lines are noise.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// Push pushes a local image to the registry as <Addr>/<repo> with the docker
// CLI and returns that reference. The engine's own copy under the reference
// is left as it was: absent when it was absent (so that a deploy must pull
// it), the previous image when there was one (so that moving a tag in the
// registry does not move it on the engine).
func (r *Registry) Push(t testing.TB, local, repo string) string {
	t.Helper()
	ref := r.Addr + "/" + repo
	previous, _ := DockerE("image", "inspect", "--format", "{{.Id}}", ref)
	Docker(t, "tag", local, ref)
	Docker(t, "push", "--quiet", ref)
	if previous != "" {
		Docker(t, "tag", previous, ref)
	} else {
		Docker(t, "rmi", ref)
	}
	return ref
}
