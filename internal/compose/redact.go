package compose

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

// minSecretLen is the shortest environment value that is masked in errors
// and logs. Shorter values ("1", "true", "fail", "debug") are settings, not
// secrets, and masking them garbles every message that happens to contain
// them ("dependency <redacted>ed to start").
const minSecretLen = 6

// redactor masks the values of the caller's interpolation environment
// (LoadSpec.Env) wherever compose, compose-go or the engine might echo them:
// an interpolated value that fails validation, an engine error about a
// container's config, a build step's output.
type redactor struct {
	// values sorted longest first, so that a value containing another is
	// masked whole.
	values []string
	dir    string
}

func newRedactor(env map[string]string, dir string) *redactor {
	r := &redactor{dir: dir}
	for _, v := range env {
		if len(v) >= minSecretLen {
			r.values = append(r.values, v)
		}
	}
	slices.SortFunc(r.values, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	r.values = slices.Compact(r.values)
	return r
}

// String masks every secret in s and shortens paths inside the checkout to
// paths relative to it (the checkout is a temporary directory: its absolute
// path is noise to a user).
func (r *redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "<redacted>")
	}
	if r.dir != "" {
		s = strings.ReplaceAll(s, r.dir+"/", "")
	}
	return s
}

// Error returns err with a masked message, or nil. The masked error does not
// unwrap (the original message would be one Unwrap away), but errors.Is still
// sees through it, so context.Canceled and sentinel errors keep matching.
func (r *redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
