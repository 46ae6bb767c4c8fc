// Package refusal checks what a validation rule says when it refuses a
// value, for the fuzz targets of every rule: the message names the
// attribute and quotes the value, so that the user sees what to fix and
// where. It depends on nothing but the standard library, so that the rules'
// packages, low in the tree, can use it in their tests.
package refusal

import (
	"strconv"
	"strings"
	"testing"
)

// Check fails t unless err's message names attr and quotes value (%q of
// it); an empty value may instead be called "empty" or "required".
func Check(t testing.TB, err error, attr, value string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, attr) {
		t.Fatalf("the refusal of %q does not name %s: %s", value, attr, msg)
	}
	if value == "" && (strings.Contains(msg, "empty") || strings.Contains(msg, "required")) {
		return
	}
	if !strings.Contains(msg, strconv.Quote(value)) {
		t.Fatalf("the refusal of %s %q does not quote it: %s", attr, value, msg)
	}
}

// CheckURL is Check for a URL that may carry a credential. A value with
// "@" (user:password@) is never quoted: its message must be the one rule
// gives any such value. Any other is quoted up to its first "?" or "#",
// where a query or fragment that may hold a token starts, then "...".
func CheckURL(t testing.TB, err error, attr, value string, rule func(string) error) {
	t.Helper()
	if strings.Contains(value, "@") {
		want := rule("https://user:password@host.invalid")
		if want == nil || err.Error() != want.Error() {
			t.Fatalf("the refusal of %s with credentials depends on the value: %s (any other: %v)", attr, err, want)
		}
		return
	}
	if i := strings.IndexAny(value, "?#"); i >= 0 {
		value = value[:i+1] + "..."
	}
	Check(t, err, attr, value)
}
