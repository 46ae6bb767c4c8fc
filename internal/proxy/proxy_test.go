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

func TestSameHosts(t *testing.T) {
	for _, c := range []struct {
		a, b []string
		want bool
	}{
		{nil, nil, true},
		{nil, []string{}, true},
		{[]string{"a.test"}, nil, false},
		{[]string{"a.test", "b.test"}, []string{"b.test", "a.test"}, true},  // NPM stores them sorted
		{[]string{"A.Test"}, []string{"a.test"}, true},                      // DNS names ignore case
		{[]string{"a.test", "a.test"}, []string{"a.test"}, true},            // a repeat routes nothing more
		{[]string{"a.test", "a.test"}, []string{"a.test", "b.test"}, false}, // same length, other hosts
		{[]string{"a.test"}, []string{"a.test", "b.test"}, false},
		{[]string{"*.a.test"}, []string{"x.a.test"}, false}, // overlap is not sameness
		{[]string{"10.0.0.2:8080", "10.0.0.3:8080"}, []string{"10.0.0.3:8080", "10.0.0.2:8080"}, true},
		{[]string{"web-1:8080"}, []string{"web-1:8081"}, false},
		{[]string{"[fd00::2]:80"}, []string{"[FD00::2]:80"}, true},
	} {
		if got := SameHosts(c.a, c.b); got != c.want {
			t.Errorf("SameHosts(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := SameHosts(c.b, c.a); got != c.want {
			t.Errorf("SameHosts(%q, %q) = %v, want %v (it must be symmetric)", c.b, c.a, got, c.want)
		}
	}
	in := []string{"B.test", "a.test"}
	SameHosts(in, nil)
	if in[0] != "B.test" {
		t.Errorf("SameHosts changed its argument: %q", in)
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
