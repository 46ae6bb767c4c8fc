package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	gofs "io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// ContextFile is one entry of a build context: a directory, a regular
// file or a symlink, owned by root as the docker CLI sends it.
type ContextFile struct {
	// Name is the entry's path in the context, slash-separated, with no
	// leading or trailing slash.
	Name string
	// Mode is the entry's type (fs.ModeDir, fs.ModeSymlink, none for a
	// regular file) and permission bits.
	Mode gofs.FileMode
	// Size is a regular file's length.
	Size int64
	// Link is a symlink's target, as stored: never followed here.
	Link string
	// ModTime must change whenever the content does (see ContextBytes):
	// a file's own time, to the nanosecond.
	ModTime time.Time
	// Open reads a regular file's content.
	Open func() (io.ReadCloser, error)
}

// ContextBytes is a regular file of the context whose content is in
// memory (a generated file). Its modification time is made of its content:
// BuildKit's file sync sends again only a file whose size or time changed
// since the copy it holds, so a new content of the same length needs a new
// time; no builder's cache looks at the time.
func ContextBytes(name string, content []byte, mode gofs.FileMode) ContextFile {
	sum := sha256.Sum256(content)
	return ContextFile{
		Name: name, Mode: mode.Perm(), Size: int64(len(content)),
		ModTime: time.Unix(0, int64(binary.BigEndian.Uint64(sum[:8])>>2)),
		Open:    func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil },
	}
}

// BuildContext is what a build sends to the engine: the files of the
// context, in walk order (each directory before what it holds, siblings by
// name), every parent directory present. The classic builder gets them as
// a tar stream, BuildKit through its session's file sync.
type BuildContext struct {
	files []ContextFile
	index map[string]int
}

// NewBuildContext orders files for sending and adds the directories they
// need. A name that is not clean and relative, or given twice, is an error.
func NewBuildContext(files []ContextFile) (BuildContext, error) {
	bc := BuildContext{index: map[string]int{}}
	seen := map[string]bool{}
	var all []ContextFile
	for _, f := range files {
		if f.Name == "" || f.Name != path.Clean(f.Name) || path.IsAbs(f.Name) || f.Name == ".." || strings.HasPrefix(f.Name, "../") {
			return BuildContext{}, fmt.Errorf("build context: %q is not a clean relative path", f.Name)
		}
		if seen[f.Name] {
			return BuildContext{}, fmt.Errorf("build context: %s is given twice", f.Name)
		}
		seen[f.Name] = true
		all = append(all, f)
	}
	for _, f := range files {
		for dir := path.Dir(f.Name); dir != "."; dir = path.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				all = append(all, ContextFile{Name: dir, Mode: gofs.ModeDir | 0o755, ModTime: time.Unix(0, 0)})
			}
		}
	}
	slices.SortFunc(all, func(a, b ContextFile) int { return compareWalkOrder(a.Name, b.Name) })
	for i, f := range all {
		bc.index[f.Name] = i
	}
	bc.files = all
	return bc, nil
}

// compareWalkOrder orders paths as a directory walk meets them: by their
// elements, so that "a/b" comes before "a.txt" ('/' sorts after '.').
func compareWalkOrder(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := range min(len(as), len(bs)) {
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// Files are the context's entries in walk order.
func (bc BuildContext) Files() []ContextFile { return bc.files }

// File is the entry of that name.
func (bc BuildContext) File(name string) (ContextFile, bool) {
	i, ok := bc.index[name]
	if !ok {
		return ContextFile{}, false
	}
	return bc.files[i], true
}

// WriteTar writes the context as the tar stream the classic builder reads,
// as it walks: no file is held in memory.
func (bc BuildContext) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, f := range bc.files {
		hdr := &tar.Header{Name: f.Name, Mode: int64(f.Mode.Perm()), ModTime: f.ModTime, Typeflag: tar.TypeReg, Size: f.Size}
		switch {
		case f.Mode.IsDir():
			hdr.Name, hdr.Typeflag, hdr.Size = f.Name+"/", tar.TypeDir, 0
		case f.Mode&gofs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", f.Name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := copyContent(tw, f); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

// copyContent writes f's content, exactly f.Size bytes of it.
func copyContent(w io.Writer, f ContextFile) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("build context: %s: %w", f.Name, err)
	}
	defer rc.Close()
	if _, err := io.CopyN(w, rc, f.Size); err != nil {
		return fmt.Errorf("build context: %s: %w", f.Name, err)
	}
	return nil
}

// syncFS is the context as BuildKit's file sync reads it (an fsutil.FS):
// the daemon asks for it, minus what its own include and exclude patterns
// leave out, and receives only what changed since its last copy.
type syncFS struct{ bc BuildContext }

var _ fsutil.FS = syncFS{}

// Walk visits the entries under target ("" for all) in walk order.
func (s syncFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	target = strings.Trim(filepath.ToSlash(target), "/")
	var skip string
	for _, f := range s.bc.files {
		if target != "" && f.Name != target && !strings.HasPrefix(f.Name, target+"/") {
			continue
		}
		if skip != "" && strings.HasPrefix(f.Name, skip+"/") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &fstypes.Stat{Path: f.Name, Mode: uint32(f.Mode), Size: f.Size, ModTime: f.ModTime.UnixNano(), Linkname: f.Link}
		if f.Mode.IsDir() {
			st.Size = 0
		}
		err := fn(f.Name, &fsutil.DirEntryInfo{Stat: st}, nil)
		switch {
		case errors.Is(err, filepath.SkipAll):
			return nil
		case errors.Is(err, filepath.SkipDir) && f.Mode.IsDir():
			skip = f.Name
		case errors.Is(err, filepath.SkipDir): // a file: the rest of its directory
			if skip = path.Dir(f.Name); skip == "." {
				return nil
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// Open reads a regular file of the context.
func (s syncFS) Open(p string) (io.ReadCloser, error) {
	f, ok := s.bc.File(strings.Trim(filepath.ToSlash(p), "/"))
	if !ok || f.Open == nil {
		return nil, &gofs.PathError{Op: "open", Path: p, Err: gofs.ErrNotExist}
	}
	return f.Open()
}
