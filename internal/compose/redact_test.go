package compose

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := newRedactor(map[string]string{
		"SHORT": "fail",                     // a setting: too short to mask
		"PASS":  "hunter22",                 // a secret
		"URL":   "postgres://u:hunter22@db", // contains the other: masked whole
	}, "/tmp/checkout")
	for in, want := range map[string]string{
		"dependency failed to start":                  "dependency failed to start",
		"password hunter22 rejected":                  "password <redacted> rejected",
		"cannot reach postgres://u:hunter22@db: nope": "cannot reach <redacted>: nope",
		"validating /tmp/checkout/compose.yaml: bad":  "validating compose.yaml: bad",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	err := r.Error(fmt.Errorf("wait: %w (password hunter22)", context.DeadlineExceeded))
	if err.Error() != "wait: context deadline exceeded (password <redacted>)" {
		t.Errorf("Error() = %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the masked error no longer matches context.DeadlineExceeded")
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("the masked error unwraps to the unmasked one")
	}
	if (*redactor)(nil).String("x hunter22") != "x hunter22" || (*redactor)(nil).Error(nil) != nil {
		t.Errorf("a nil redactor must pass messages through")
	}
}
