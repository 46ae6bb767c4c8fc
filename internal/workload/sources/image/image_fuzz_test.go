package image_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/distribution/reference"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// FuzzValidateRef: no input panics, a refusal names the ref and quotes it,
// and an accepted ref holds no space or control character and means one
// image: its normalized form (what the engine pulls) parses back to
// itself, and so does its familiar form (what a user reads).
func FuzzValidateRef(f *testing.F) {
	f.Fuzz(func(t *testing.T, ref string) {
		err := image.ValidateRef(ref)
		if err != nil {
			refusal.Check(t, err, "ref", ref)
			return
		}
		if strings.IndexFunc(ref, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("accepted ref %q holds a space or control character", ref)
		}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			t.Fatalf("accepted ref %q does not parse: %v", ref, err)
		}
		for _, form := range []string{named.String(), reference.FamiliarString(named)} {
			again, err := reference.ParseNormalizedNamed(form)
			if err != nil || again.String() != named.String() {
				t.Fatalf("accepted ref %q: %q parses to %v, %v; want %s", ref, form, again, err, named)
			}
		}
	})
}
