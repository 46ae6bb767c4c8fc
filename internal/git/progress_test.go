package git

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestLineWriterSplitsProgressAndScrubsTheToken(t *testing.T) {
	t.Parallel()
	var got []string
	w := newLineWriter(func(s string) { got = append(got, s) }, "tok3n")
	fmt.Fprint(w, "Counting objects:  50% (1/2)\rCounting objects: 100% (2/2), done.\n")
	fmt.Fprint(w, "remote: saw tok3n\n\npartial ")
	w.Line("checked out abc")
	fmt.Fprint(w, "tail")
	w.Flush()
	want := []string{
		"Counting objects:  50% (1/2)",
		"Counting objects: 100% (2/2), done.",
		"remote: saw [token]",
		"partial",
		"checked out abc",
		"tail",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %q\nwant    %q", got, want)
	}
	if newLineWriter(nil, "").sideband() != nil {
		t.Error("with no callback go-git must get a nil Progress, so it asks for none")
	}
}

// TestScrubKeepsErrorsIsButNotTheToken: a scrubbed error still matches
// context.Canceled, yet offers no Unwrap through which the token could be
// read back.
func TestScrubKeepsErrorsIsButNotTheToken(t *testing.T) {
	t.Parallel()
	err := scrub(fmt.Errorf("fetch with tok3n: %w", context.Canceled), "tok3n")
	if err.Error() != "fetch with [token]: context canceled" {
		t.Errorf("message = %q", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Error("errors.Is(context.Canceled) lost")
	}
	if errors.Unwrap(err) != nil {
		t.Error("the original error (with the token) is reachable through Unwrap")
	}
	plain := errors.New("no secret here")
	if scrub(plain, "tok3n") != plain {
		t.Error("an error without the token should pass unchanged")
	}
}
