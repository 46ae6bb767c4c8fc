// Package plugintest is the conformance test that every source kind runs:
// what the plugin contract promises of any Source, checked on the cases a
// source's own test gives. Its public form carries no secret and survives a
// round trip through plugin.Decode (import rebuilds the source from it),
// the decoded source keeps the fingerprint (or import would plan a
// redeploy), and Validate's refusals name the attribute and the value.
package plugintest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Conformance is a source kind's cases, for its config type C (*C is the
// plugin.Source).
type Conformance[C any, P Config[C]] struct {
	// Source is a valid config with every secret set (to Secrets) and as
	// many optional attributes as the kind has, so that its public form
	// carries them.
	Source P
	// Secrets are the secret values in Source (tokens, passwords): none
	// may appear in its public form, in how it prints, or in a refusal.
	Secrets []string
	// Decoded, when set, checks more of what plugin.Decode rebuilt from
	// the public form (defaults written out, say).
	Decoded func(t *testing.T, decoded P)
	// Valid are more configs that Validate accepts.
	Valid map[string]P
	// Invalid are changes to a copy of Base that Validate refuses.
	Base    C
	Invalid []Invalid[C]
}

// Config is what a source's config type is to plugintest: its pointer is
// the plugin.Source.
type Config[C any] interface {
	*C
	plugin.Source
}

// Invalid is a change that makes a config invalid, and what the refusal
// must say.
type Invalid[C any] struct {
	Name   string
	Mutate func(*C)
	// Attr is the attribute the refusal names; Got is the value as the
	// refusal shows it (a string quoted, a number as is), "" for a value
	// that is missing.
	Attr, Got string
	// Want are more parts of the refusal, word for word.
	Want []string
}

// Refuses is an Invalid case: mutate makes the config invalid, and the
// refusal names attr and shows got, with every part of want.
func Refuses[C any](name string, mutate func(*C), attr, got string, want ...string) Invalid[C] {
	return Invalid[C]{Name: name, Mutate: mutate, Attr: attr, Got: got, Want: want}
}

// Run runs the conformance test of c.
func Run[C any, P Config[C]](t *testing.T, c Conformance[C, P]) {
	t.Helper()
	kind := c.Source.Kind()
	if err := c.Source.Validate(); err != nil {
		t.Fatalf("the conformance Source is not valid: %v", err)
	}
	noSecret := func(t *testing.T, what, text string) {
		t.Helper()
		for _, s := range c.Secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s carries a secret: %s", what, text)
			}
		}
	}
	t.Run("public carries no secret and round-trips", func(t *testing.T) {
		public := marshal(t, c.Source.Public())
		noSecret(t, "the public form", public)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			noSecret(t, "the config printed with "+verb, fmt.Sprintf(verb, c.Source))
		}
		decoded := decode[P](t, kind, public)
		if again := marshal(t, decoded.Public()); again != public {
			t.Errorf("the public form does not round-trip through plugin.Decode:\n %s\n %s", public, again)
		}
		if c.Decoded != nil {
			c.Decoded(t, decoded)
		}
	})
	t.Run("decode keeps the fingerprint", func(t *testing.T) {
		decoded := decode[P](t, kind, marshal(t, c.Source.Public()))
		if got, want := decoded.Fingerprint(), c.Source.Fingerprint(); got != want {
			t.Errorf("the decoded config has another fingerprint, so import would plan a redeploy:\n %s\n %s", got, want)
		}
	})
	t.Run("validation names the attribute and the value", func(t *testing.T) {
		for name, s := range c.Valid {
			if err := s.Validate(); err != nil {
				t.Errorf("%s: Validate() = %v, want nil", name, err)
			}
		}
		for _, in := range c.Invalid {
			cfg := c.Base
			in.Mutate(&cfg)
			err := P(&cfg).Validate()
			if err == nil {
				t.Errorf("%s: Validate() = nil, want a refusal of %s", in.Name, in.Attr)
				continue
			}
			msg := err.Error()
			if prefix := kind + " source: "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("%s: %q does not start with %q", in.Name, msg, prefix)
			}
			for _, part := range append([]string{in.Attr, in.Got}, in.Want...) {
				if !strings.Contains(msg, part) {
					t.Errorf("%s: %q lacks %q", in.Name, msg, part)
				}
			}
			noSecret(t, in.Name+": the refusal", msg)
		}
	})
}

func marshal(t *testing.T, public any) string {
	t.Helper()
	b, err := json.Marshal(public)
	if err != nil {
		t.Fatalf("marshal the public form: %v", err)
	}
	return string(b)
}

func decode[P plugin.Source](t *testing.T, kind, public string) P {
	t.Helper()
	src, err := plugin.Decode(kind, []byte(public))
	if err != nil {
		t.Fatalf("plugin.Decode(%q, %s): %v", kind, public, err)
	}
	p, ok := src.(P)
	if !ok {
		t.Fatalf("plugin.Decode(%q) returned a %T", kind, src)
	}
	return p
}
