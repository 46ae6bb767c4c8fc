package git

import (
	"context"
	"errors"
	"fmt"
	"path"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ValidateBranchPattern is the rule for a branch listing's match: a glob
// as path.Match reads it ("*" stays within one "/"-separated part, so
// "feature/*" matches feature/login but not feature/a/b); "" matches all.
func ValidateBranchPattern(pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("match must be a glob such as \"feature/*\" (got %q): %v", pattern, err)
	}
	return nil
}

// ListBranches returns the repository's branches that match pattern (see
// ValidateBranchPattern), each with the commit it points at, read with one
// listing of the remote's references (what `git ls-remote --heads` does):
// no clone. Refused credentials are marked ErrCredentials, a host that
// cannot be reached ErrUnavailable.
func ListBranches(ctx context.Context, repo Repo, pattern string) (map[string]string, error) {
	if err := ValidateBranchPattern(pattern); err != nil {
		return nil, err
	}
	// The branch is not read; CloneURL's rule wants one.
	repo.Branch, repo.Tag = "main", ""
	cloneURL, err := repo.CloneURL()
	if err != nil {
		return nil, err
	}
	auth, err := repo.auth()
	if err != nil {
		return nil, err
	}
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{cloneURL}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return map[string]string{}, nil
		}
		return nil, describe("list the branches of", cloneURL, repo.Token, err)
	}
	heads := map[string]string{}
	for _, ref := range refs {
		if ref.Type() != plumbing.HashReference || !ref.Name().IsBranch() {
			continue
		}
		name := ref.Name().Short()
		if ok, _ := path.Match(pattern, name); pattern == "" || ok {
			heads[name] = ref.Hash().String()
		}
	}
	return heads, nil
}
