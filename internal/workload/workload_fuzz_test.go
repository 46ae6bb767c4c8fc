package workload_test

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// The fuzz targets of the workload's rules. Each checks, for any input,
// that the rule does not panic, that a refusal names the attribute and
// quotes the value, and that an accepted value has the property the rule
// exists for, stated here without the rule's own code.

// isDNSLabel: 1-63 lower-case letters, digits and hyphens, not starting or
// ending with a hyphen (RFC 1123).
func isDNSLabel(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func FuzzValidateName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		err := workload.ValidateName(name)
		if err != nil {
			refusal.Check(t, err, "name", name)
			return
		}
		if !isDNSLabel(name) {
			t.Fatalf("accepted name %q is not a DNS label", name)
		}
	})
}

func FuzzValidateEnvName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		err := workload.ValidateEnvName(name)
		if err != nil {
			refusal.Check(t, err, "env name", name)
			return
		}
		// The engine passes NAME=value: the name must come back whole.
		if got, _, _ := strings.Cut(name+"=value", "="); got != name || name == "" {
			t.Fatalf("accepted env name %q does not survive NAME=value", name)
		}
		if c := name[0]; c >= '0' && c <= '9' || c == '.' || c == '-' {
			t.Fatalf("accepted env name %q starts with %q", name, c)
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
				t.Fatalf("accepted env name %q holds %q", name, c)
			}
		}
	})
}

// dockerVolumeName is what the engine's local volume driver accepts as a
// volume name (moby's daemon/names.RestrictedNamePattern): two or more
// characters.
var dockerVolumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func FuzzValidateVolumeSource(f *testing.F) {
	f.Fuzz(func(t *testing.T, source string) {
		err := workload.ValidateVolumeSource(source)
		if err != nil {
			refusal.Check(t, err, "source", source)
			return
		}
		bind := workload.Volume{Source: source}.Bind()
		if bind != strings.HasPrefix(source, "/") {
			t.Fatalf("accepted source %q: Bind() = %v, want a bind mount exactly for an absolute path", source, bind)
		}
		if !bind && !dockerVolumeName.MatchString(source) {
			t.Fatalf("accepted source %q is neither an absolute path nor a volume name the engine takes", source)
		}
	})
}

// mountPoint is where the engine mounts target: it reads a backslash as a
// slash (moby's volume/mounts linux parser), then cleans the path.
func mountPoint(target string) string {
	return path.Clean(strings.ReplaceAll(target, `\`, "/"))
}

func FuzzValidateVolumeTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, target string) {
		err := workload.ValidateVolumeTarget(target)
		if err != nil {
			refusal.Check(t, err, "target", target)
			return
		}
		if !strings.HasPrefix(target, "/") || mountPoint(target) == "/" {
			t.Fatalf("accepted target %q is not an absolute path below the container's root (the engine mounts it at %q)", target, mountPoint(target))
		}
	})
}

// specAttrWord is the word each attribute's messages must carry.
var specAttrWord = []struct {
	attr *regexp.Regexp
	word string
}{
	{regexp.MustCompile(`^name$`), "name"},
	{regexp.MustCompile(`^domains\[0\]$`), "domain"},
	{regexp.MustCompile(`^domains$`), "domains"},
	{regexp.MustCompile(`^env$`), "env"},
	{regexp.MustCompile(`^host_port$`), "host_port"},
	{regexp.MustCompile(`^volume\[[01]\]\.source$`), "source"},
	{regexp.MustCompile(`^volume\[[01]\]\.target$`), "target"},
	{regexp.MustCompile(`^health_timeout$`), "health_timeout"},
	{regexp.MustCompile(`^drain_timeout$`), "drain_timeout"},
	{regexp.MustCompile(`^source$`), "source"},
	{regexp.MustCompile(`^source\.image$`), "image source"},
	{regexp.MustCompile(`^source\.image\.healthcheck$`), "healthcheck"},
	{regexp.MustCompile(`^deploy_strategy$`), "deploy_strategy"},
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// FuzzSpecValidate fuzzes a whole Spec: one domain (none when empty), one
// env entry, two volumes, an image source (none when ref is "-"). What
// Validate says never depends on the env value (a secret); every refusal
// is a FieldError on a known attribute whose message names it; an accepted
// Spec passes every rule of its parts, mounts no two volumes at one point,
// and resolves a strategy that the host and the routing allow.
func FuzzSpecValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, domain, envKey, envValue, source, target1, target2, strategy string,
		hostPort int, healthTimeout, drainTimeout int64, ref string, port int, healthcheck string, proxied bool) {
		s := workload.Spec{
			Name:          name,
			Strategy:      plugin.Strategy(strategy),
			Env:           map[string]string{envKey: envValue},
			Volumes:       []workload.Volume{{Source: source, Target: target1}, {Source: source, Target: target2, ReadOnly: true}},
			HostPort:      hostPort,
			HealthTimeout: time.Duration(healthTimeout),
			DrainTimeout:  time.Duration(drainTimeout),
		}
		if domain != "" {
			s.Domains = []string{domain}
		}
		if ref != "-" {
			s.Source = &image.Config{Ref: ref, Port: port, Healthcheck: healthcheck}
		}
		got, err := s.Validate(workload.Host{Proxied: proxied})

		// An env value is a secret: what Validate says must not depend on it.
		other := s
		other.Env = map[string]string{envKey: "other" + envValue}
		if _, otherErr := other.Validate(workload.Host{Proxied: proxied}); fmt.Sprint(otherErr) != fmt.Sprint(err) {
			t.Fatalf("what Validate says depends on the env value: %v, then %v", err, otherErr)
		}

		if err != nil {
			for _, e := range leafErrors(err) {
				var fe *workload.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("refusal %q is not a FieldError", e)
				}
				word := ""
				for _, w := range specAttrWord {
					if w.attr.MatchString(fe.Attr) {
						word = w.word
					}
				}
				if word == "" {
					t.Fatalf("refusal %q is on an unknown attribute %q", e, fe.Attr)
				}
				if !strings.Contains(e.Error(), word) {
					t.Fatalf("refusal of %s does not say %q: %s", fe.Attr, word, e)
				}
			}
			return
		}

		for what, rule := range map[string]error{
			"name":   workload.ValidateName(name),
			"env":    workload.ValidateEnvName(envKey),
			"source": workload.ValidateVolumeSource(source),
			"target": errors.Join(workload.ValidateVolumeTarget(target1), workload.ValidateVolumeTarget(target2)),
		} {
			if rule != nil {
				t.Fatalf("Validate accepted a spec whose %s the rule refuses: %v", what, rule)
			}
		}
		if domain != "" && (proxy.ValidateDomain(domain) != nil || !proxied) {
			t.Fatalf("Validate accepted domain %q (proxied %v)", domain, proxied)
		}
		if mountPoint(target1) == mountPoint(target2) {
			t.Fatalf("Validate accepted two volumes at one mount point: %q and %q", target1, target2)
		}
		if hostPort != 0 && (hostPort < 1 || hostPort > 65535) || healthTimeout < 0 || drainTimeout < 0 {
			t.Fatalf("Validate accepted host_port %d, health_timeout %d, drain_timeout %d", hostPort, healthTimeout, drainTimeout)
		}
		if s.Source == nil || s.Source.Validate() != nil {
			t.Fatalf("Validate accepted source %#v", s.Source)
		}
		// A worker (no port) has nothing to route, probe or publish.
		if port == 0 && (domain != "" || healthcheck != "" || hostPort != 0) {
			t.Fatalf("Validate accepted a worker with domain %q, healthcheck %q, host_port %d", domain, healthcheck, hostPort)
		}
		switch got {
		case plugin.StrategyRecreate:
		case plugin.StrategyBlueGreen:
			// A worker's blue-green overlaps instances without a route.
			if port != 0 && (!proxied || domain == "" || hostPort != 0) {
				t.Fatalf("blue-green resolved with proxied %v, domain %q, host_port %d", proxied, domain, hostPort)
			}
		default:
			t.Fatalf("Validate accepted the spec but resolved strategy %q", got)
		}
	})
}
