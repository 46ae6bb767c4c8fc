package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"a.example.test", "a.example.test", true},
		{"a.example.test", "A.example.test", true},
		{"a.example.test", "b.example.test", false},
		{"*.example.test", "a.example.test", true},
		{"*.example.test", "a.b.example.test", true}, // nginx's wildcard spans labels
		{"*.example.test", "example.test", false},
		{"*.example.test", "aexample.test", false},
		{"*.example.test", "*.example.test", true},
		{"*.example.test", "*.b.example.test", true},
		{"*.b.example.test", "*.example.test", true},
		{"*.example.test", "*.other.test", false},
		{"*.test", "example.test", true},
	} {
		if got := Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := Overlap(c.b, c.a); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v (it must be symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestCheckDomainsNamesTheDomainAndBothWorkloads(t *testing.T) {
	routes := []Route{
		{Workload: "shop", Domains: []string{"shop.example.test"}},
		{Workload: "wild", Domains: []string{"*.apps.example.test"}},
		{Workload: "web", Domains: []string{"web.example.test"}},
	}
	// Its own route never conflicts: an update keeps its domains.
	if err := CheckDomains(Route{Workload: "web", Domains: []string{"web.example.test"}}, routes); err != nil {
		t.Fatalf("own route: %v", err)
	}
	err := CheckDomains(Route{Workload: "web", Domains: []string{"web.example.test", "shop.example.test"}}, routes)
	var taken *DomainTakenError
	if !errors.As(err, &taken) || taken.Domain != "shop.example.test" || taken.Other != "shop" {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{`"shop.example.test"`, `"web"`, `"shop"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %s", err, want)
		}
	}
	err = CheckDomains(Route{Workload: "api", Domains: []string{"api.apps.example.test"}}, routes)
	if !errors.As(err, &taken) || taken.Taken != "*.apps.example.test" || !strings.Contains(err.Error(), `overlaps domain "*.apps.example.test"`) {
		t.Fatalf("a name under another workload's wildcard: %v", err)
	}
}
