// Package engine opens the deploy engine (rollout.Engine) on a Docker host
// from plain configuration: it makes the Docker client and checks that the
// engine answers, builds the runners (containers, compose stacks, Swarm
// services) and the proxy's router, and hands them to rollout. The
// provider maps its configuration onto Config; a CLI or a daemon could do
// the same.
//
// It sits just below the provider and above everything it assembles:
// rollout, runner, internal/docker, internal/compose and
// internal/proxy/{caddy,npm}.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/npm"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// Defaults of Config.
const (
	DefaultNetwork        = "tinyforge"
	DefaultPublishAddress = "127.0.0.1"
)

// Config is what the engine is opened with.
type Config struct {
	// Docker says how to reach the Docker engine.
	Docker docker.Config
	// Registries are the logins pulls use.
	Registries *docker.Registries
	// Network is the network every workload joins; "": DefaultNetwork.
	Network string
	// PublishAddress is the host IP container ports are published on;
	// "": DefaultPublishAddress.
	PublishAddress string
	// Swarm runs every workload that is not a stack as a Swarm service:
	// the engine must be a Swarm manager.
	Swarm bool
	// SwarmRegistry is the repository prefix images built for Swarm
	// services are pushed to; only with Swarm.
	SwarmRegistry string
	// Proxy routes the workloads' domains; nil: no routes.
	Proxy *Proxy
	// Log receives the engine's progress.
	Log *slog.Logger
	// AfterStep is rollout.Engine.AfterStep: the caller's hook.
	AfterStep func(ctx context.Context, workload string, step rollout.Step)
	// StateDir is where the engine keeps files on this machine (a private
	// ACME CA's root that Caddy reads); "": DefaultStateDir().
	StateDir string
	// Transport, when set, wraps the HTTP transport of the Docker client
	// (what = "docker") and of the proxy's API client ("proxy"), to count
	// or trace the calls.
	Transport func(what string, next http.RoundTripper) http.RoundTripper
}

// Proxy is the proxy backend: exactly one of Caddy and NPM. Open gives it
// its HTTP client, and its dialer for a Docker host reached over SSH.
type Proxy struct {
	Caddy *caddy.Config
	NPM   *npm.Config
	// ForwardTo says which address of an instance NPM forwards to: ""
	// forwards on the network (NPM as a container on it). Caddy runs on
	// the host and forwards to the published port.
	ForwardTo runner.ForwardTo
}

// Error is a configuration the engine cannot open with, at the attribute
// that is wrong, as a user writes it ("docker_host", "proxy.npm").
type Error struct {
	Attr string
	// Summary says what went wrong in a few words.
	Summary string
	Err     error
}

func (e *Error) Error() string { return e.Summary + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(attr, summary string, err error) (*rollout.Engine, error) {
	return nil, &Error{Attr: attr, Summary: summary, Err: err}
}

// Open connects to the Docker engine of cfg, checks that it answers (and is
// a Swarm manager when cfg.Swarm says so), and returns the engine that
// deploys onto it. Every error is an *Error.
func Open(ctx context.Context, cfg Config) (*rollout.Engine, error) {
	if cfg.SwarmRegistry != "" && !cfg.Swarm {
		return fail("swarm_registry", "swarm_registry needs swarm = true",
			fmt.Errorf("swarm_registry = %q is where images built for Swarm services are pushed; without swarm = true workloads are containers on one engine and nothing is pushed", cfg.SwarmRegistry))
	}
	if cfg.Swarm && cfg.Proxy != nil && cfg.Proxy.NPM != nil {
		return fail("proxy.npm", "Nginx Proxy Manager cannot route Swarm services",
			errors.New("The engine is a Swarm manager, so workloads are Swarm services whose tasks Swarm moves between nodes; Nginx Proxy Manager forwards to one fixed address "+
				"and cannot follow them. Use Caddy on the overlay network (proxy { caddy { ... } }), or set swarm = false."))
	}
	opts := []docker.Option{docker.WithRegistries(cfg.Registries), docker.WithLog(cfg.Log)}
	if cfg.Transport != nil {
		opts = append(opts, docker.WithTransport(func(next http.RoundTripper) http.RoundTripper { return cfg.Transport("docker", next) }))
	}
	client, err := docker.New(cfg.Docker, opts...)
	if err != nil {
		return fail("docker_host", "Invalid Docker engine configuration", err)
	}
	publishAddress := cmp.Or(cfg.PublishAddress, DefaultPublishAddress)
	// On Swarm nothing is published: the proxy reaches the tasks on the
	// overlay network.
	if err := client.CheckPublishAddress(publishAddress); err != nil && !cfg.Swarm {
		return fail("publish_address", "publish_address unreachable on a remote engine", err)
	}
	if err := client.Ping(ctx); err != nil {
		var hostKey *docker.HostKeyError
		if errors.As(err, &hostKey) {
			attr := "ssh_known_hosts_file"
			if hostKey.Pinned {
				attr = "ssh_host_key"
			}
			return fail(attr, "SSH host key refused", err)
		}
		return fail("docker_host", "Docker engine unreachable", err)
	}
	if cfg.Swarm {
		manager, err := client.SwarmManager(ctx)
		if err != nil {
			return fail("docker_host", "Docker engine unreachable", err)
		}
		if !manager {
			return fail("swarm", "The engine is not a Swarm manager",
				fmt.Errorf("swarm = true, but the engine at %s is not a manager of a Swarm (docker swarm init, or point docker_host at a manager)", cmp.Or(cfg.Docker.Host, "the default socket")))
		}
	}
	network := cmp.Or(cfg.Network, DefaultNetwork)
	containers := &runner.Containers{Docker: client, Network: network, PublishAddress: publishAddress, ForwardTo: runner.ForwardPublished}
	stacks := &runner.Stacks{Docker: client, Compose: compose.New(client.EngineAPI(), compose.WithBuilder(client)), PublishAddress: publishAddress,
		ForwardTo: runner.ForwardPublished, Log: cfg.Log}
	runtimes := rollout.Runtimes{Containers: containers, Stacks: stacks}
	if cfg.Swarm {
		runtimes.Services = &runner.Services{Docker: client, Network: network, Registry: cfg.SwarmRegistry}
	}
	e := rollout.New(runtimes)
	e.Images = client
	e.Log = cfg.Log
	e.AfterStep = cfg.AfterStep
	// An ssh:// engine's: the gate probes ports on the host's loopback.
	e.Dial = client.HostDialer()
	if cfg.Proxy != nil {
		router, forwardTo, err := cfg.Proxy.router(cfg.Transport, docker.LoopbackThrough(client.HostDialer()), cmp.Or(cfg.StateDir, DefaultStateDir()))
		if err != nil {
			return nil, err
		}
		e.Router, containers.ForwardTo, stacks.ForwardTo = router, forwardTo, forwardTo
	}
	return e, nil
}

// router builds the proxy backend, and says which address of an instance
// it forwards to. dial, when not nil, opens the connections to the
// proxy's API (see httpClient) and to Caddy's HTTPS listener.
func (p *Proxy) router(transport func(string, http.RoundTripper) http.RoundTripper, dial docker.DialFunc, stateDir string) (proxy.Router, runner.ForwardTo, error) {
	switch {
	case p.Caddy != nil && p.NPM == nil:
		c := *p.Caddy
		c.HTTPClient, c.Dial = httpClient(transport, dial), dial
		if c.HTTPS != nil {
			h, err := caddyHTTPS(*c.HTTPS, c.AdminURL, dial == nil, stateDir)
			if err != nil {
				return nil, "", err
			}
			c.HTTPS = h
		}
		r, err := caddy.New(c)
		if err != nil {
			return nil, "", &Error{Attr: "proxy.caddy", Summary: "Invalid Caddy configuration", Err: err}
		}
		// Caddy runs on the host: it reaches the published port.
		return r, runner.ForwardPublished, nil
	case p.NPM != nil && p.Caddy == nil:
		n := *p.NPM
		n.HTTPClient, n.Dial = httpClient(transport, dial), dial
		r, err := npm.New(n)
		if err != nil {
			return nil, "", &Error{Attr: "proxy.npm", Summary: "Invalid Nginx Proxy Manager configuration", Err: err}
		}
		return r, runner.ForwardTo(cmp.Or(string(p.ForwardTo), string(runner.ForwardNetwork))), nil
	}
	return nil, "", &Error{Attr: "proxy", Summary: "Invalid proxy", Err: errors.New("proxy must hold exactly one of caddy, npm")}
}

// caddyHTTPS completes Caddy's HTTPS settings for where Caddy runs: on
// this machine (its admin API on a loopback address, and no ssh:// engine,
// whose loopback is the Docker host's) Caddy's certificate errors reach the
// provider (caddy.HTTPS.IssuerLog), and a private ACME CA's root is written
// to a file in stateDir that Caddy reads; elsewhere such a root is refused,
// since Caddy 2.6 reads it from a file only.
func caddyHTTPS(h caddy.HTTPS, adminURL string, direct bool, stateDir string) (*caddy.HTTPS, error) {
	u, err := url.Parse(cmp.Or(adminURL, caddy.DefaultAdminURL))
	if err != nil {
		return nil, &Error{Attr: "proxy.caddy", Summary: "Invalid Caddy configuration", Err: err}
	}
	ip := net.ParseIP(u.Hostname())
	here := direct && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback())
	h.IssuerLog = here
	if h.ACMECARootPEM == "" {
		return &h, nil
	}
	if !here {
		return nil, &Error{Attr: "proxy.caddy.https.acme_ca_root_pem", Summary: "A private ACME root needs Caddy on this machine",
			Err: fmt.Errorf("Caddy 2.6 trusts a private ACME CA's root only from a file, which the provider writes on the machine that runs Terraform; Caddy at %s does not run here (put the root where that Caddy reads it and trust it there, or run Terraform beside Caddy)", u.Host)}
	}
	if h.ACMECARootFile, err = caddy.WriteRootFile(stateDir, h.ACMECARootPEM); err != nil {
		return nil, &Error{Attr: "proxy.caddy.https.acme_ca_root_pem", Summary: "Cannot write the ACME CA's root for Caddy", Err: err}
	}
	return &h, nil
}

// DefaultStateDir is where the engine keeps files on this machine:
// $XDG_STATE_HOME/tinyforge, else /var/lib/tinyforge for root, else
// ~/.local/state/tinyforge. Caddy must be able to read what is there.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tinyforge")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/tinyforge"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tinyforge")
	}
	return filepath.Join(home, ".local", "state", "tinyforge")
}

// httpClient is the HTTP client of a proxy backend; nil lets the backend
// choose, unless transport wraps the calls or dial says how to connect:
// for an ssh:// engine, docker.LoopbackThrough, which reaches an API on a
// loopback address through the SSH connection (the proxy beside the
// engine) and any other address directly.
func httpClient(transport func(string, http.RoundTripper) http.RoundTripper, dial docker.DialFunc) *http.Client {
	if transport == nil && dial == nil {
		return nil
	}
	var next http.RoundTripper
	if dial != nil {
		next = &http.Transport{
			DialContext:     dial,
			Proxy:           http.ProxyFromEnvironment, // never used for loopback
			MaxIdleConns:    6,
			IdleConnTimeout: 30 * time.Second,
		}
	}
	if transport != nil {
		next = transport("proxy", next)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: next}
}
