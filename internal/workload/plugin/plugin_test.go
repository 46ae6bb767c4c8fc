package plugin_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// TestEmptyStrategyKeepsHistoricalDefault locks backward compatibility: an
// image source with no strategy written deploys blue-green when a proxy
// routes it, recreate otherwise, and falls back to recreate rather than
// refuse a fixed host port.
func TestEmptyStrategyKeepsHistoricalDefault(t *testing.T) {
	src := &image.Config{Ref: "app:1", Port: 8080}
	cases := []struct {
		routing  plugin.Routing
		hostPort bool
		want     plugin.Strategy
	}{
		{plugin.Routing{Proxy: true, Domains: true}, false, plugin.StrategyBlueGreen},
		{plugin.Routing{Proxy: true, Domains: false}, false, plugin.StrategyRecreate},
		{plugin.Routing{Proxy: false, Domains: false}, false, plugin.StrategyRecreate},
		{plugin.Routing{Proxy: true, Domains: true}, true, plugin.StrategyRecreate},
	}
	for _, c := range cases {
		got, err := plugin.ResolveStrategy(plugin.StrategyDefault, src, c.routing, c.hostPort)
		if err != nil {
			t.Fatalf("%+v hostPort=%v: %v", c.routing, c.hostPort, err)
		}
		if got != c.want {
			t.Errorf("%+v hostPort=%v: \"\" resolved to %q, want %q", c.routing, c.hostPort, got, c.want)
		}
	}
}

func TestResolveStrategyRefusals(t *testing.T) {
	src := &image.Config{Ref: "app:1", Port: 8080}
	cases := []struct {
		name     string
		strategy plugin.Strategy
		routing  plugin.Routing
		hostPort bool
		wantErr  string
	}{
		{"unknown value", "rolling", plugin.Routing{Proxy: true, Domains: true}, false, `deploy_strategy must be one of "", "recreate", "blue-green" (got "rolling")`},
		{"blue-green without proxy", plugin.StrategyBlueGreen, plugin.Routing{}, false, `deploy_strategy "blue-green" needs a proxy`},
		{"blue-green without domains", plugin.StrategyBlueGreen, plugin.Routing{Proxy: true}, false, `deploy_strategy "blue-green" needs domains`},
		{"blue-green with host_port", plugin.StrategyBlueGreen, plugin.Routing{Proxy: true, Domains: true}, true, `cannot be used with host_port`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := plugin.ResolveStrategy(c.strategy, src, c.routing, c.hostPort)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
	if got, err := plugin.ResolveStrategy(plugin.StrategyRecreate, src, plugin.Routing{}, true); err != nil || got != plugin.StrategyRecreate {
		t.Fatalf("explicit recreate: got %q, %v", got, err)
	}
}

func TestDecodeRoundTripsPublicConfig(t *testing.T) {
	src, err := plugin.Decode("image", []byte(`{"ref":"app:1","port":8080,"pull":"never"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := src.(*image.Config)
	if c.Ref != "app:1" || c.Port != 8080 || c.Pull != "never" {
		t.Fatalf("decoded %+v", c)
	}
	if _, err := plugin.Decode("helm", nil); err == nil || !strings.Contains(err.Error(), `unknown source kind "helm"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestValidateHealthcheck(t *testing.T) {
	for _, ok := range []string{"", "/", "/healthz", "/api/v1/health?full=1"} {
		if err := plugin.ValidateHealthcheck(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"healthz", "/a b", "http://x/healthz"} {
		if err := plugin.ValidateHealthcheck(bad); err == nil || !strings.Contains(err.Error(), "healthcheck") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

// refusing is a source that refuses blue-green, as a storage-backed site
// does.
type refusing struct{ *image.Config }

func (refusing) RefuseStrategy(s plugin.Strategy) error {
	if s == plugin.StrategyBlueGreen {
		return errors.New(`deploy_strategy "blue-green" would mount the one read-write volume twice`)
	}
	return nil
}

// TestResolveStrategyAsksTheSource: a source may refuse a strategy, asked
// or defaulted; the routing's rules still apply to what it accepts.
func TestResolveStrategyAsksTheSource(t *testing.T) {
	src := refusing{&image.Config{Ref: "app:1", Port: 8080}}
	routed := plugin.Routing{Proxy: true, Domains: true}
	if _, err := plugin.ResolveStrategy(plugin.StrategyBlueGreen, src, routed, false); err == nil || !strings.Contains(err.Error(), "mount the one read-write volume twice") {
		t.Fatalf("an explicit blue-green the source refuses: %v", err)
	}
	// The image default would be blue-green when routed: the source's
	// refusal applies to a default too, and says why.
	if _, err := plugin.ResolveStrategy(plugin.StrategyDefault, src, routed, false); err == nil {
		t.Fatal("a defaulted blue-green the source refuses was accepted")
	}
	if got, err := plugin.ResolveStrategy(plugin.StrategyRecreate, src, routed, false); err != nil || got != plugin.StrategyRecreate {
		t.Fatalf("recreate: %v %v", got, err)
	}
}
