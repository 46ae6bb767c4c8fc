package docker

import "testing"

// TestPinDigestKeepsTheTag: a service's image is pinned as the docker CLI
// pins it, <repository>:<tag>@<digest>, so that `docker service ls` shows
// the version; a reference already pinned stays as written.
func TestPinDigestKeepsTheTag(t *testing.T) {
	t.Parallel()
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for ref, want := range map[string]string{
		"127.0.0.1:5000/team/app:v1.4.2":       "127.0.0.1:5000/team/app:v1.4.2@" + d,
		"ghcr.io/acme/web:1.4.2":               "ghcr.io/acme/web:1.4.2@" + d,
		"nginx":                                "nginx:latest@" + d,
		"docker.io/library/nginx:1.27":         "nginx:1.27@" + d,
		"registry.test/app@" + d:               "registry.test/app@" + d,
		"registry.test/app:v2@" + d:            "registry.test/app:v2@" + d,
		"localhost:5000/tinyforge-x:abc-12345": "localhost:5000/tinyforge-x:abc-12345@" + d,
	} {
		got, err := pinDigest(ref, d)
		if err != nil || got != want {
			t.Errorf("pinDigest(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := pinDigest("Not A Ref", d); err == nil {
		t.Error("pinDigest accepted an invalid reference")
	}
}
