package gitbuild

import (
	"io"
	"maps"
	"slices"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// WriteBuildContext writes the build context at dir to w as a tar stream,
// as ContextFiles makes it: what the classic builder reads.
func WriteBuildContext(w io.Writer, dir, dockerfile string) error {
	return writeContext(w, Context{Dir: dir, Dockerfile: dockerfile}, "")
}

// writeContext writes the context bc makes as a tar stream.
func writeContext(w io.Writer, bc Context, clone string) error {
	files, err := ContextFiles(bc, clone)
	if err != nil {
		return err
	}
	c, err := docker.NewBuildContext(files)
	if err != nil {
		return err
	}
	return c.WriteTar(w)
}

// ContextFiles lists the build context bc makes (see docker.DirContext):
// bc.Files, generated, come first, in place of any file of the same name;
// bc.Dir's entries follow, under bc.Prefix, minus what .dockerignore and
// bc.Exclude exclude. clone is the go-git checkout holding bc.Dir ("" for
// none), whose re-rooted absolute symlinks are listed as the repository
// has them.
func ContextFiles(bc Context, clone string) ([]docker.ContextFile, error) {
	dockerfile := bc.Dockerfile
	if bc.Prefix != "" || bc.Files[dockerfile] != nil {
		dockerfile = "" // not in Dir: nothing of Dir must be kept for it
	}
	var files []docker.ContextFile
	for _, name := range slices.Sorted(maps.Keys(bc.Files)) {
		files = append(files, docker.ContextBytes(name, bc.Files[name], 0o644))
	}
	dir, err := docker.DirContext{
		Dir: bc.Dir, Dockerfile: dockerfile, Exclude: bc.Exclude, Prefix: bc.Prefix, Root: clone,
		Skip: func(name string) bool { _, generated := bc.Files[name]; return generated },
	}.Files()
	if err != nil {
		return nil, err
	}
	return append(files, dir...), nil
}
