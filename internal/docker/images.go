package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// InspectImage returns the image with that reference or ID; ErrNotFound when
// the engine does not have it.
func (c *Client) InspectImage(ctx context.Context, ref string) (Image, error) {
	r, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, fmt.Errorf("inspect image %s: %w", ref, classify(err))
	}
	img := Image{ID: r.ID, RepoTags: r.RepoTags, Created: parseEngineTime(r.Created), Size: r.Size}
	if r.Config != nil {
		img.Labels = r.Config.Labels
		hc := r.Config.Healthcheck
		img.Healthcheck = hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE"
	}
	return img, nil
}

// PullImage pulls ref from its registry, reporting progress as it goes: one
// line per layer and status change ("3f4a: Downloading [=>   ] 1MB/20MB"),
// not one per byte-count update.
func (c *Client) PullImage(ctx context.Context, ref string, progress Progress) error {
	var opts image.PullOptions
	login, found, err := c.registries.For(ref)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if found {
		if opts.RegistryAuth, err = encodeLogin(login); err != nil {
			return fmt.Errorf("pull %s: encode the login of registry %s: %w", ref, login.Address, err)
		}
	}
	refused := func(err error) error { return loginRefused("pull", ref, login, found, err) }
	rc, err := c.api.ImagePull(ctx, ref, opts)
	if err != nil {
		return refused(err)
	}
	defer rc.Close()
	lastStatus := map[string]string{}
	err = readStream(rc, func(m streamMessage) error {
		if msg := m.errorMessage(); msg != "" {
			return errors.New(msg)
		}
		if m.Status == "" || lastStatus[m.ID] == m.Status {
			return nil
		}
		lastStatus[m.ID] = m.Status
		if progress != nil {
			progress(m.statusLine())
		}
		return nil
	})
	if err != nil {
		return refused(err)
	}
	return nil
}

// PushImage tags the local image ref as remote and pushes remote to its
// registry with the registry's login (none: anonymous). Progress gets the
// registry's word on each layer. Swarm needs it for images built on the
// manager: the other nodes pull them from the registry.
func (c *Client) PushImage(ctx context.Context, ref, remote string, progress Progress) error {
	if err := c.api.ImageTag(ctx, ref, remote); err != nil {
		return fmt.Errorf("tag %s as %s: %w", ref, remote, classify(err))
	}
	// The engine wants a login header on every push; "{}" is anonymous.
	opts := image.PushOptions{RegistryAuth: base64.URLEncoding.EncodeToString([]byte("{}"))}
	login, found, err := c.registries.For(remote)
	if err != nil {
		return fmt.Errorf("push %s: %w", remote, err)
	}
	if found {
		if opts.RegistryAuth, err = encodeLogin(login); err != nil {
			return fmt.Errorf("push %s: encode the login of registry %s: %w", remote, login.Address, err)
		}
	}
	rc, err := c.api.ImagePush(ctx, remote, opts)
	if err != nil {
		return loginRefused("push", remote, login, found, classify(err))
	}
	defer rc.Close()
	err = readStream(rc, func(m streamMessage) error {
		if msg := m.errorMessage(); msg != "" {
			return errors.New(msg)
		}
		if progress != nil && m.Status != "" {
			progress(m.statusLine())
		}
		return nil
	})
	if err != nil {
		return loginRefused("push", remote, login, found, err)
	}
	return nil
}

// loginRefused is the error of a pull or push (op) of ref that failed with
// err: when the registry refused, it says whether a login was sent, and
// whose (never the password).
func loginRefused(op, ref string, login RegistryLogin, found bool, err error) error {
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "unauthorized") && !strings.Contains(msg, "denied") && !strings.Contains(msg, "authentication required") &&
		!strings.Contains(msg, "no basic auth credentials") {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	host, _ := RegistryOf(ref)
	if found {
		return fmt.Errorf("%s %s: registry %s refused the login of user %q: %w", op, ref, host, login.Username, err)
	}
	return fmt.Errorf("%s %s: registry %s asks for credentials, and none are configured for it (a registry_auth block, or the Docker config file's auths or credential helpers): %w", op, ref, host, err)
}

// ListImages lists images that carry the label key=value; an empty value
// matches any value of the key.
func (c *Client) ListImages(ctx context.Context, labelKey, labelValue string) ([]Image, error) {
	label := labelKey
	if labelValue != "" {
		label = labelKey + "=" + labelValue
	}
	list, err := c.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, fmt.Errorf("list images with label %s: %w", label, err)
	}
	out := make([]Image, 0, len(list))
	for _, s := range list {
		out = append(out, Image{
			ID:       s.ID,
			RepoTags: s.RepoTags,
			Labels:   s.Labels,
			Created:  time.Unix(s.Created, 0),
			Size:     s.Size,
		})
	}
	return out, nil
}

// RemoveImage removes an image by ID or reference, and its untagged parents;
// gone is not an error, an image in use is: it is never forced away from a
// container.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// streamMessage is one JSON message of the engine's pull and build streams,
// reduced to the fields read here.
type streamMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Progress    string `json:"progress"`
	ID          string `json:"id"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// errorMessage is the stream's error, if this message carries one.
func (m streamMessage) errorMessage() string {
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		return strings.TrimSpace(m.ErrorDetail.Message)
	}
	return strings.TrimSpace(m.Error)
}

// statusLine renders a pull status as "id: status progress".
func (m streamMessage) statusLine() string {
	line := m.Status
	if m.Progress != "" {
		line += " " + m.Progress
	}
	if m.ID != "" {
		line = m.ID + ": " + line
	}
	return line
}

// readStream decodes the engine's JSON message stream until it ends or each
// returns an error.
func readStream(r io.Reader, each func(streamMessage) error) error {
	dec := json.NewDecoder(r)
	for {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read the engine's progress stream: %w", err)
		}
		if err := each(m); err != nil {
			return err
		}
	}
}
