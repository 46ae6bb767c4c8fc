package runner

import (
	"regexp"
	"testing"
)

// TestInstanceNameIsUniqueAndNamesTheWorkload draws 10,000 names: with the
// 48 random bits, two collide with a chance of 2 in 10 million.
func TestInstanceNameIsUniqueAndNamesTheWorkload(t *testing.T) {
	shape := regexp.MustCompile(`^web-7-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		n := instanceName("web", 7)
		if !shape.MatchString(n) {
			t.Fatalf("%q is not web-7-<12 hex>", n)
		}
		if seen[n] {
			t.Fatalf("%q generated twice", n)
		}
		seen[n] = true
	}
}
