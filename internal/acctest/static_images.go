package acctest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
)

// StaticBaseImages are the base images of the static source's tests, in
// place of the registry images a user names (caddy:2-alpine, a node or
// busybox build image, denoland/deno), which cannot be pulled here. Each is
// built FROM scratch out of a binary Debian or npm ships, with the shared
// libraries it needs at the paths `ldd` gives; each is a full reference
// (tinyforge-acctest/<name>:<run id>) that exists only on the local engine,
// labelled LabelTestRun=RunID(). None sets USER (they run as root) or
// EXPOSE, and none has CA certificates, /etc/passwd or time zone data.
type StaticBaseImages struct {
	// Server is Debian's Caddy (2.6.2) as the official caddy image
	// provides it: /usr/bin/caddy, ENV PATH=/usr/bin:/bin,
	// XDG_CONFIG_HOME=/config, XDG_DATA_HOME=/data, WORKDIR /srv, an
	// empty /etc/caddy, and CMD caddy run --config /etc/caddy/Caddyfile
	// --adapter caddyfile. A Dockerfile FROM it copies a Caddyfile to
	// /etc/caddy/Caddyfile and the site anywhere (/srv by convention),
	// and needs no CMD of its own. /config, /data and /tmp are
	// world-writable (sticky), so Caddy runs under any --user too. There
	// is no shell: a RUN step cannot work FROM it.
	Server string

	// Build is Debian's static busybox (1.35) with every applet linked in
	// /bin (sh, mkdir, cp, sed, awk, find, tar, gzip, wget, ...), ENV
	// PATH=/bin, a world-writable /tmp and CMD sh: the stage a
	// build_command runs in (RUN sh -c "..."), whose output a later stage
	// copies with COPY --from.
	Build string

	// Deno is Deno (2.9.6, npm's @deno/linux-x64-glibc): /usr/bin/deno,
	// ENV PATH=/usr/bin:/bin DENO_DIR=/tmp/deno DENO_NO_UPDATE_CHECK=1, a
	// world-writable /tmp, no ENTRYPOINT or CMD. A Dockerfile FROM it
	// sets CMD ["deno", "run", ...]. Nothing in the image is an init, and
	// Deno as PID 1 does not end cleanly on docker stop: without a SIGTERM
	// listener in the script it crashes (SIGSEGV, exit 139) about a second
	// after SIGTERM. Run it with --init (docker-init, the engine's tini),
	// which ends it at once (143), or have the script call
	// Deno.addSignalListener("SIGTERM", () => Deno.exit(0)).
	Deno string
}

// StaticImageRef is the reference of one static base image of this
// process: "caddy", "busybox" or "deno".
func StaticImageRef(name string) string {
	return "tinyforge-acctest/" + name + ":" + RunID()
}

// staticImageNames are the repositories of StaticImageRef, for the
// cleanup that removes them.
var staticImageNames = []string{"caddy", "busybox", "deno"}

// Where the binaries of the static base images come from.
const (
	// BusyboxBinary is Debian's busybox-static. The dynamic busybox of
	// Debian's busybox package would need a libc in the image.
	BusyboxBinary = "/bin/busybox"
)

// Busybox is BusyboxBinary's content, for a test's build context.
func Busybox(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(BusyboxBinary)
	if err != nil {
		t.Fatalf("Debian's busybox-static (.ci/setup-host installs it): %v", err)
	}
	return b
}

var (
	staticImagesOnce sync.Once
	staticImages     StaticBaseImages
	staticImagesErr  error
)

// StaticImages builds the static base images once per test process and
// returns them; the test fails when they cannot be built (a missing Debian
// package or an npm registry out of reach: the message says which). Later
// calls cost nothing. RunAndCleanUp removes them when the process ends.
func StaticImages(t testing.TB) StaticBaseImages {
	t.Helper()
	RequireDocker(t)
	staticImagesOnce.Do(func() {
		staticImages, staticImagesErr = BuildStaticImages(context.Background())
	})
	if staticImagesErr != nil {
		t.Fatalf("build the static base images: %v", staticImagesErr)
	}
	return staticImages
}

// BuildStaticImages builds the three static base images with the docker
// CLI. It is the non-test entry point (a benchmark program); tests use
// StaticImages. Call RemoveTestImages when done.
func BuildStaticImages(ctx context.Context) (StaticBaseImages, error) {
	imgs := StaticBaseImages{
		Server: StaticImageRef("caddy"),
		Build:  StaticImageRef("busybox"),
		Deno:   StaticImageRef("deno"),
	}
	g, ctx := errgroup.WithContext(ctx)
	// Two at a time, as for the test images: the engine and the disk do
	// the work, and they are shared with every other test.
	g.SetLimit(2)
	g.Go(func() error { return buildStaticImage(ctx, imgs.Deno, denoRootfs, denoImageConfig) })
	g.Go(func() error { return buildStaticImage(ctx, imgs.Server, caddyRootfs, caddyImageConfig) })
	g.Go(func() error { return buildStaticImage(ctx, imgs.Build, busyboxRootfs, busyboxImageConfig) })
	if err := g.Wait(); err != nil {
		return StaticBaseImages{}, err
	}
	return imgs, nil
}

// The image configuration of each static base image: the Dockerfile lines
// after its COPY of the root file system.
const (
	caddyImageConfig = `ENV PATH=/usr/bin:/bin XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
`
	busyboxImageConfig = `ENV PATH=/bin
CMD ["sh"]
`
	// DENO_NO_UPDATE_CHECK: no container of a test tries to reach the
	// internet to look for a newer Deno.
	denoImageConfig = `ENV PATH=/usr/bin:/bin DENO_DIR=/tmp/deno DENO_NO_UPDATE_CHECK=1
`
)

// staticImagesOwner owns the layer chains of the static base images: they
// are removed only when the process ends, and the run ID in the label keeps
// every other process off their layers.
const staticImagesOwner = "static-images"

// buildStaticImage lays out a root file system in a fresh build context
// with fill, then builds ref FROM scratch out of it.
func buildStaticImage(ctx context.Context, ref string, fill func(context.Context, rootfs) error, config string) error {
	dir, err := os.MkdirTemp("", "tinyforge-acctest-"+RunID()+"-static-")
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	// The context is sent to the engine and not needed after: the deno
	// one is 100 MB.
	defer os.RemoveAll(dir)
	if err := fill(ctx, rootfs(filepath.Join(dir, "rootfs"))); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	dockerfile := "FROM scratch\n" + BuildLabel(staticImagesOwner) + "\nCOPY rootfs/ /\n" + config
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	// --no-cache: see DockerBuildE.
	cmd := exec.CommandContext(ctx, "docker", "build", "--quiet", "--no-cache", "--force-rm", "--tag", ref, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build image %s: %v: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func caddyRootfs(ctx context.Context, root rootfs) error {
	if _, err := os.Stat(CaddyBinary); err != nil {
		return fmt.Errorf("%s: install Debian's caddy package (.ci/setup-host does): %w", CaddyBinary, err)
	}
	if err := root.addDynamic(ctx, CaddyBinary, "/usr/bin/caddy"); err != nil {
		return err
	}
	if err := root.mkdir(0o755, "/etc/caddy", "/srv"); err != nil {
		return err
	}
	return root.mkdir(0o777|os.ModeSticky, "/config", "/data", "/tmp")
}

func busyboxRootfs(_ context.Context, root rootfs) error {
	const pkg = "install Debian's busybox-static package (.ci/setup-host does)"
	static, err := isStatic(BusyboxBinary)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", BusyboxBinary, pkg, err)
	}
	if !static {
		return fmt.Errorf("%s is dynamically linked (Debian's busybox package): %s", BusyboxBinary, pkg)
	}
	if err := root.copyFile(BusyboxBinary, "/bin/busybox", 0o755); err != nil {
		return err
	}
	// What `busybox --install -s /bin` would do, had the image a shell
	// at build time to run it in: every applet a symlink in /bin.
	out, err := exec.Command(BusyboxBinary, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", BusyboxBinary, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", root.path("/bin/"+applet)); err != nil {
			return err
		}
	}
	return root.mkdir(0o777|os.ModeSticky, "/tmp")
}

func denoRootfs(ctx context.Context, root rootfs) error {
	cache, err := defaultDenoCache()
	if err != nil {
		return err
	}
	tarball, err := cache.tarball(ctx)
	if err != nil {
		return err
	}
	// Extracted outside the build context, then added like any dynamic
	// binary.
	tmp, err := os.MkdirTemp("", "tinyforge-acctest-"+RunID()+"-deno-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	binary := filepath.Join(tmp, "deno")
	if err := extractDeno(tarball, binary); err != nil {
		return err
	}
	if err := root.addDynamic(ctx, binary, "/usr/bin/deno"); err != nil {
		return err
	}
	return root.mkdir(0o777|os.ModeSticky, "/tmp")
}

// rootfs is a directory laid out as an image's root file system, copied
// into the image with COPY rootfs/ /. Paths given to its methods are the
// paths in the image.
type rootfs string

func (r rootfs) path(p string) string { return filepath.Join(string(r), filepath.FromSlash(p)) }

// addDynamic copies a dynamically linked binary to dst, and each shared
// library and the loader that ldd lists for it to the path ldd gives: the
// loader is found by the absolute path in the binary, and finds the
// libraries in its default directories, since the image has no
// ld.so.cache. Symbolic links (libzstd.so.1 -> libzstd.so.1.5.4, and
// /lib64 -> /usr/lib64 on a merged-/usr host) are copied as the files they
// point at.
func (r rootfs) addDynamic(ctx context.Context, binary, dst string) error {
	libs, err := sharedLibraries(ctx, binary)
	if err != nil {
		return err
	}
	if err := r.copyFile(binary, dst, 0o755); err != nil {
		return err
	}
	for _, lib := range libs {
		if err := r.copyFile(lib, lib, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// sharedLibraries lists the absolute paths ldd resolves for binary: its
// libraries and its loader, but not the vDSO, which the kernel provides.
func sharedLibraries(ctx context.Context, binary string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", binary).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", binary, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 3 && fields[1] == "=>":
			// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)"
			if !strings.HasPrefix(fields[2], "/") {
				return nil, fmt.Errorf("ldd %s: %s", binary, strings.TrimSpace(line))
			}
			libs = append(libs, fields[2])
		case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
			// "/lib64/ld-linux-x86-64.so.2 (0x...)": the loader.
			libs = append(libs, fields[0])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no shared library: %s", binary, strings.TrimSpace(string(out)))
	}
	return libs, nil
}

// isStatic reports whether the ELF file at path has no program
// interpreter, so that it runs with nothing else in the image.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// copyFile copies the file src (following symbolic links) to dst in the
// root, creating its directories.
func (r rootfs) copyFile(src, dst string, mode os.FileMode) error {
	target := r.path(dst)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return nil // a library two binaries share
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// mkdir makes each directory with exactly mode: the umask does not apply,
// and the sticky bit is kept, as COPY keeps it.
func (r rootfs) mkdir(mode os.FileMode, dirs ...string) error {
	for _, d := range dirs {
		p := r.path(d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}
