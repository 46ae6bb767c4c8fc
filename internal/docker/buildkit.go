package docker

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

// buildSessionKey is the shared key of every build session this provider
// opens. BuildKit keeps, per shared key, a copy of the last context it
// received, and sends only what changed since: one key keeps those copies
// as few as the builds that run at once, whatever the workloads.
const buildSessionKey = "tinyforge-build"

// The local sources the Dockerfile frontend reads through a session.
const (
	sessionContext    = "context"
	sessionDockerfile = "dockerfile"
)

// cacheNamespaceArg is the Dockerfile frontend's build argument that
// namespaces cache mount IDs.
const cacheNamespaceArg = "BUILDKIT_CACHE_MOUNT_NS"

// buildWithBuildKit builds through the engine's BuildKit, as the docker
// 20.10 CLI does: builder version 2, and a session of this process,
// attached through the engine's /session endpoint, that serves the
// context and the Dockerfile (file sync) and the secrets. It works the
// same for a local and a remote engine: the context travels through the
// session's connection. errNoBuildKit: the engine refused it.
func (c *Client) buildWithBuildKit(ctx context.Context, spec BuildSpec, out *buildOutput) (string, error) {
	dockerfile, ok := spec.Context.File(spec.Dockerfile)
	if !ok || !dockerfile.Mode.IsRegular() {
		return "", fmt.Errorf("the build context has no Dockerfile at %s", spec.Dockerfile)
	}
	dockerfile.Name = path.Base(spec.Dockerfile)
	dockerfileDir, err := NewBuildContext([]ContextFile{dockerfile})
	if err != nil {
		return "", err
	}
	sess, err := session.NewSession(ctx, buildSessionKey)
	if err != nil {
		return "", fmt.Errorf("open a BuildKit session: %w", err)
	}
	sess.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{
		sessionContext:    syncFS{spec.Context},
		sessionDockerfile: syncFS{dockerfileDir},
	}))
	// Always there, so that a secret the build does not get is a missing
	// secret, not a missing provider.
	sess.Allow(secretsprovider.FromMap(spec.Secrets))

	buildCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := sess.Run(buildCtx, c.dialSession); err != nil && buildCtx.Err() == nil {
			cancel(fmt.Errorf("the BuildKit session with the engine failed: %w", err))
		}
	}()
	defer func() {
		sess.Close()
		<-ran
	}()

	args := map[string]string{}
	for k, v := range spec.BuildArgs {
		args[k] = v
	}
	if spec.CacheNamespace != "" {
		args[cacheNamespaceArg] = spec.CacheNamespace
	}
	buildID := randomID()
	resp, err := c.api.ImageBuild(buildCtx, nil, build.ImageBuildOptions{
		Version:       build.BuilderBuildKit,
		SessionID:     sess.ID(),
		RemoteContext: "client-session",
		BuildID:       buildID,
		Dockerfile:    dockerfile.Name,
		Target:        spec.Target,
		Tags:          spec.Tags,
		BuildArgs:     buildArgs(args),
		Labels:        spec.Labels,
		NoCache:       spec.noCache,
	})
	if err != nil {
		if strings.Contains(err.Error(), "buildkit not supported") {
			return "", errNoBuildKit
		}
		return "", cmpCause(buildCtx, err)
	}
	defer resp.Body.Close()
	stop := context.AfterFunc(buildCtx, func() {
		// Closing the request is enough for new engines; the cancel call
		// makes sure for the others.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = c.api.BuildCancel(cctx, buildID)
	})
	defer stop()

	var id string
	trace := &buildkitTrace{out: out}
	err = readStream(resp.Body, func(m streamMessage) error {
		if msg := m.errorMessage(); msg != "" {
			return errors.New(msg)
		}
		switch m.ID {
		case "moby.buildkit.trace":
			var raw []byte
			if json.Unmarshal(m.Aux, &raw) != nil {
				return nil
			}
			var st controlapi.StatusResponse
			if st.UnmarshalVT(raw) == nil {
				trace.take(&st)
			}
		case "moby.image.id":
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil {
				id = aux.ID
			}
		}
		return nil
	})
	trace.flush()
	if err != nil {
		return "", cmpCause(buildCtx, err)
	}
	if err := context.Cause(buildCtx); err != nil {
		return "", err
	}
	return id, nil
}

// cmpCause is err, or why ctx ended when it did: a failed session is the
// cause of the build's failure.
func cmpCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// randomID is a build's ID, for the engine's cancel call.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dialSession attaches a BuildKit session: the engine's /session endpoint,
// upgraded to the session's protocol (h2c), over the same connection as
// every API call (unix socket, TCP with TLS, or the SSH tunnel).
func (c *Client) dialSession(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
	conn, err := c.dialRaw(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/session", http.NoBody)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for k, v := range meta {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach the BuildKit session: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach the BuildKit session: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		conn.Close()
		return nil, fmt.Errorf("attach the BuildKit session: the engine answered %s", resp.Status)
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn is a connection whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// buildkitTrace renders BuildKit's progress as `docker build
// --progress=plain` does, one line at a time: "#5 [2/3] RUN make", the
// step's output "#5 <line>", then "#5 DONE 1.2s", "#5 CACHED" or
// "#5 ERROR: <why>".
type buildkitTrace struct {
	out      *buildOutput
	numbers  map[string]int
	started  map[string]time.Time
	ended    map[string]bool
	names    map[string]string
	partial  map[string]string
	nextStep int
}

func (t *buildkitTrace) number(digest string) int {
	if t.numbers == nil {
		t.numbers, t.started, t.ended = map[string]int{}, map[string]time.Time{}, map[string]bool{}
		t.names, t.partial = map[string]string{}, map[string]string{}
	}
	n, ok := t.numbers[digest]
	if !ok {
		t.nextStep++
		n = t.nextStep
		t.numbers[digest] = n
	}
	return n
}

func (t *buildkitTrace) emit(n int, s string) { t.out.line(fmt.Sprintf("#%d %s", n, s)) }

// take renders one status update.
func (t *buildkitTrace) take(st *controlapi.StatusResponse) {
	for _, v := range st.Vertexes {
		n := t.number(v.Digest)
		if t.ended[v.Digest] {
			continue
		}
		if _, ok := t.started[v.Digest]; !ok && (v.Started != nil || v.Cached || v.Completed != nil) {
			t.started[v.Digest] = time.Now()
			if v.Started != nil {
				t.started[v.Digest] = v.Started.AsTime()
			}
			t.names[v.Digest] = v.Name
			t.emit(n, v.Name)
		}
		if v.Completed == nil && !v.Cached {
			continue
		}
		t.flushLog(v.Digest)
		t.ended[v.Digest] = true
		switch {
		case v.Error != "":
			t.emit(n, "ERROR: "+v.Error)
		case v.Cached:
			t.emit(n, "CACHED")
		default:
			took := time.Duration(0)
			if v.Started != nil {
				took = v.Completed.AsTime().Sub(v.Started.AsTime())
			}
			t.emit(n, fmt.Sprintf("DONE %.1fs", took.Seconds()))
		}
	}
	for _, l := range st.Logs {
		n := t.number(l.Vertex)
		text := t.partial[l.Vertex] + string(l.Msg)
		lines := strings.Split(text, "\n")
		t.partial[l.Vertex] = lines[len(lines)-1]
		for _, line := range lines[:len(lines)-1] {
			if strings.TrimSpace(StripTerminalCodes(line)) != "" {
				t.emit(n, line)
			}
		}
	}
	for _, w := range st.Warnings {
		t.emit(t.number(w.Vertex), "WARNING: "+string(w.Short))
	}
}

// flushLog emits a step's last output line that had no newline.
func (t *buildkitTrace) flushLog(digest string) {
	if rest := t.partial[digest]; strings.TrimSpace(rest) != "" {
		t.emit(t.numbers[digest], rest)
	}
	delete(t.partial, digest)
}

// flush emits what is left when the stream ends.
func (t *buildkitTrace) flush() {
	for digest := range t.partial {
		t.flushLog(digest)
	}
}
