package git

import (
	"fmt"
	"regexp"
)

// fullSHA is the one form in which a commit is pinned, cloned and
// reported: 40 lowercase hex digits.
var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// IsFullSHA reports whether s is a full commit SHA in lowercase hex. It is
// the one rule for the sources' ref and for every commit the engine builds,
// clones or reports a status on.
func IsFullSHA(s string) bool { return fullSHA.MatchString(s) }

// checkCommit refuses a commit that is not a full SHA, naming the value.
func checkCommit(sha string) error {
	if !IsFullSHA(sha) {
		return fmt.Errorf("commit must be a full 40-character lowercase hex SHA (got %q)", sha)
	}
	return nil
}

// abbreviatedSHA is what looks like a commit SHA written short.
var abbreviatedSHA = regexp.MustCompile(`^[0-9a-fA-F]{4,39}$`)
