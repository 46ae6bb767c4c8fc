package acctest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The Deno of the Deno test image: the npm package that carries the linux
// glibc binary (the `deno` npm package's optional dependency), pinned by the
// registry's integrity so that a cached tarball is trusted only when it is
// byte for byte the one published. .ci/setup-host fetches the same file into
// the same place, so a machine it set up never downloads it during a test.
const (
	denoPackage   = "@deno/linux-x64-glibc"
	denoVersion   = "2.9.6"
	denoIntegrity = "sha512-3md4TKLCuzsLDmfOoC5KN7NAZaxSVkMgm64vg6foD00JBADCpYS2/5QqXfzgnP5ZQz3iLP9vBQJtEgc116OAoQ=="
	// denoTarballName is what `npm pack` names the tarball it writes.
	denoTarballName = "deno-linux-x64-glibc-" + denoVersion + ".tgz"
	// denoTarballMember is the binary inside the tarball.
	denoTarballMember = "package/deno"
)

// denoCache is where the Deno tarball is kept between test processes, and
// how it gets there.
type denoCache struct {
	dir string // holds denoTarballName
	npm string // the npm command that fetches it when missing
}

// defaultDenoCache is $XDG_CACHE_HOME/tinyforge/deno-<version> (else
// ~/.cache/...): outside the repository, shared by every checkout.
func defaultDenoCache() (denoCache, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return denoCache{}, fmt.Errorf("find a cache dir for the deno tarball: %w", err)
	}
	return denoCache{dir: filepath.Join(base, "tinyforge", "deno-"+denoVersion), npm: "npm"}, nil
}

// tarball returns the path of the cached Deno tarball, fetching it with
// `npm pack` first when it is missing or is not the published file.
// Concurrent processes may both fetch; each renames a complete, verified
// file into place, so a reader never sees a partial one.
func (c denoCache) tarball(ctx context.Context) (string, error) {
	path := filepath.Join(c.dir, denoTarballName)
	if err := checkIntegrity(path, denoIntegrity); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", fmt.Errorf("make the deno cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(c.dir, "fetch-")
	if err != nil {
		return "", fmt.Errorf("make the deno cache dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	spec := denoPackage + "@" + denoVersion
	cmd := exec.CommandContext(ctx, c.npm, "pack", "--loglevel=error", "--pack-destination", tmp, spec)
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetch the deno binary (npm pack %s into %s; .ci/setup-host does it once): %v: %s",
			spec, c.dir, err, strings.TrimSpace(stderr.String()))
	}
	fetched := filepath.Join(tmp, denoTarballName)
	if err := checkIntegrity(fetched, denoIntegrity); err != nil {
		return "", fmt.Errorf("npm pack %s: %w", spec, err)
	}
	if err := os.Rename(fetched, path); err != nil {
		return "", fmt.Errorf("keep the deno tarball: %w", err)
	}
	return path, nil
}

// checkIntegrity compares a file with an npm integrity string
// ("sha512-<base64>").
func checkIntegrity(path, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("integrity %q: only sha512 is supported", integrity)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s is not the published file: sha512-%s, want %s", path, got, integrity)
	}
	return nil
}

// extractDeno writes the deno binary of the tarball to dst, executable.
func extractDeno(tarball, dst string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", tarball, err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s holds no %s", tarball, denoTarballMember)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", tarball, err)
		}
		if hdr.Name != denoTarballMember || hdr.Typeflag != tar.TypeReg {
			continue
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return fmt.Errorf("extract %s: %w", denoTarballMember, err)
		}
		return out.Close()
	}
}
