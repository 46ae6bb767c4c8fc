// Package docker is the only importer of github.com/docker/docker: the
// engine's narrow view of a Docker host (containers, images, networks) over
// the Engine API, with API-version negotiation so one build talks to old and
// new engines alike.
package docker

import (
	"context"
	"errors"
	"time"
)

var errTODO = errors.New("not implemented")

// Client talks to one Docker engine.
type Client struct {
	host string
}

// New returns a client for cfg. It does not contact the engine; Ping does.
func New(cfg Config) (*Client, error) { return nil, errTODO }

// Host is the engine address in use, for messages.
func (c *Client) Host() string { return c.host }

// Ping checks that the engine answers and negotiates the API version. Its
// error names the host.
func (c *Client) Ping(ctx context.Context) error { return errTODO }

// Close releases the client's connections.
func (c *Client) Close() error { return nil }

// EnsureNetwork creates the named bridge network with labels when it does not
// exist yet; an existing network is left as it is.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	return errTODO
}

// ListContainers lists all containers, running or not, that carry the label
// key (any value), in one call to the engine.
func (c *Client) ListContainers(ctx context.Context, labelKey string) ([]Container, error) {
	return nil, errTODO
}

// InspectContainer returns the details of one container; ErrNotFound when it
// does not exist.
func (c *Client) InspectContainer(ctx context.Context, id string) (ContainerDetail, error) {
	return ContainerDetail{}, errTODO
}

// CreateContainer creates (does not start) a container and returns its ID.
func (c *Client) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	return "", errTODO
}

// StartContainer starts a created or stopped container.
func (c *Client) StartContainer(ctx context.Context, id string) error { return errTODO }

// StopContainer sends SIGTERM, waits up to timeout, then SIGKILL. A container
// that is already stopped is not an error.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	return errTODO
}

// RemoveContainer force-removes a container and its anonymous volumes (named
// volumes stay: they are data). A container that is already gone is not an
// error.
func (c *Client) RemoveContainer(ctx context.Context, id string) error { return errTODO }

// ContainerLogs returns the last n lines of the container's stdout and stderr.
func (c *Client) ContainerLogs(ctx context.Context, id string, n int) ([]string, error) {
	return nil, errTODO
}

// InspectImage returns the image with that reference or ID; ErrNotFound when
// the engine does not have it.
func (c *Client) InspectImage(ctx context.Context, ref string) (Image, error) {
	return Image{}, errTODO
}

// PullImage pulls ref from its registry, reporting progress as it goes.
func (c *Client) PullImage(ctx context.Context, ref string, progress Progress) error {
	return errTODO
}

// BuildImage builds an image with the engine's builder and returns its ID. A
// failed build returns an error carrying the last lines of the output.
func (c *Client) BuildImage(ctx context.Context, spec BuildSpec, progress Progress) (string, error) {
	return "", errTODO
}

// ListImages lists images that carry the label key=value.
func (c *Client) ListImages(ctx context.Context, labelKey, labelValue string) ([]Image, error) {
	return nil, errTODO
}

// RemoveImage removes an image by ID or reference; gone is not an error, an
// image in use is.
func (c *Client) RemoveImage(ctx context.Context, ref string) error { return errTODO }

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")
