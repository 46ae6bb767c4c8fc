package plugin_test

import (
	"net/http"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// FuzzValidateHealthcheck: no input panics, a refusal names the healthcheck
// and quotes it, and an accepted path ("" gates on liveness instead) makes
// the probe's request: appended to the container's address it is a GET of
// that host and no other, with no space or control character in it.
func FuzzValidateHealthcheck(f *testing.F) {
	const addr = "127.0.0.1:8080"
	f.Fuzz(func(t *testing.T, path string) {
		err := plugin.ValidateHealthcheck(path)
		if err != nil {
			refusal.Check(t, err, "healthcheck", path)
			return
		}
		if path == "" {
			return
		}
		for _, c := range []byte(path) {
			if c <= ' ' || c == 0x7f {
				t.Fatalf("accepted healthcheck %q holds %q", path, c)
			}
		}
		// As rollout builds the probe's URL.
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatalf("accepted healthcheck %q makes no request: %v", path, err)
		}
		if req.URL.Host != addr || req.URL.User != nil || req.URL.Path == "" || req.URL.Path[0] != '/' {
			t.Fatalf("accepted healthcheck %q makes a request of %q, path %q", path, req.URL.Host, req.URL.Path)
		}
	})
}
