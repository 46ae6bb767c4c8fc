package caddy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// Every admin API write makes Caddy load its whole config again, so N route
// writes over N routes cost O(N^2). Terraform applies workloads from
// parallel goroutines of one provider process, so the route changes of one
// Router that are pending at the same moment are written together: one
// read of the server, every change applied to its route list, one
// conditional write of the list. While one batch is being written, the
// changes that arrive queue up and become the next batch (group commit);
// and a batch that follows another within burstGap waits batchGather
// before it reads, so that the changes of workloads finishing their gates
// close together share one load. A change after a quiet second is written
// at once: nothing suggests company is coming, and the lone deploy of a
// push to live should not wait for it.

const (
	// batchGather is how long a batch in a burst waits for more changes
	// before it reads the server: a little latency on each route write
	// against a whole config load for each change that would have come in
	// that time.
	batchGather = 50 * time.Millisecond
	// burstGap is how soon after the previous batch a batch counts as part
	// of a burst, and waits batchGather.
	burstGap = time.Second
)

// change is one Upsert (want set) or Delete (want nil) waiting for a batch.
type change struct {
	route proxy.Route
	want  *routeConfig
	err   error
	done  chan struct{}
}

// batcher queues the pending changes of one Router; at most one goroutine
// writes at a time.
type batcher struct {
	mu      sync.Mutex
	pending []*change
	writing bool
	last    time.Time           // when the previous batch was taken
	sleep   func(time.Duration) // time.Sleep, or a test's recorder
}

// submit queues c and waits for the batch that carries it. A caller whose
// ctx ends stops waiting, but the batch may still write its change (the
// swap handles an interrupted write by reading the route back).
func (r *Router) submit(ctx context.Context, c *change) error {
	c.done = make(chan struct{})
	b := &r.batch
	b.mu.Lock()
	b.pending = append(b.pending, c)
	lead := !b.writing
	b.writing = true
	b.mu.Unlock()
	if lead {
		// Its own goroutine and context: the batch carries other callers'
		// changes, which one caller's interrupt must not fail.
		go r.writeBatches(context.WithoutCancel(ctx))
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeBatches writes batches until no change is pending.
func (r *Router) writeBatches(ctx context.Context) {
	b := &r.batch
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.writing = false
			b.mu.Unlock()
			return
		}
		inBurst := !b.last.IsZero() && time.Since(b.last) < burstGap
		b.mu.Unlock()
		if inBurst {
			b.pause(batchGather)
		}
		b.mu.Lock()
		batch := b.pending
		b.pending = nil
		b.last = time.Now()
		b.mu.Unlock()
		r.writeBatch(ctx, batch)
		for _, c := range batch {
			close(c.done)
		}
	}
}

func (b *batcher) pause(d time.Duration) {
	if b.sleep != nil {
		b.sleep(d)
		return
	}
	time.Sleep(d)
}

// writeBatch applies batch in one conditional write, re-reading and
// redoing it when another writer changed the config first. When the write
// itself fails (Caddy refuses the config, say), each change is written
// alone, so that one bad change fails only its own caller.
func (r *Router) writeBatch(ctx context.Context, batch []*change) {
	err := r.retry(ctx, func() error {
		srv, err := r.readServer(ctx)
		if err != nil {
			return err
		}
		if srv.exists {
			fixed, err := r.fixSettings(ctx, srv)
			if err != nil {
				return err
			}
			if fixed {
				return errRedo
			}
		}
		routes, changed, err := r.applyChanges(srv, batch)
		switch {
		case err != nil:
			return err
		case !changed:
			return nil
		case !srv.exists:
			return r.createServer(ctx, srv.etag, routes)
		case srv.routesIsList:
			_, err = r.admin.do(ctx, http.MethodPatch, r.serverPath+"/routes", routes, srv.etag)
		default:
			err = r.setKey(ctx, srv, "routes", routes)
		}
		return err
	})
	if err == nil {
		r.writeBatchTLS(ctx, batch)
		return
	}
	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	for _, c := range batch {
		c.err = nil
		r.writeBatch(ctx, []*change{c})
	}
}

// writeBatchTLS brings the TLS app in line with the routes just written,
// in one conditional write: a deleted route's certificates go, an upserted
// route's are exactly what it serves (Certify added new ones before). A
// swap changes none, so it writes nothing here. Without HTTPS only deletes
// look, to clear what an earlier configuration left.
func (r *Router) writeBatchTLS(ctx context.Context, batch []*change) {
	var workloads []string
	routes := map[string]*proxy.Route{}
	for _, c := range batch {
		if c.err != nil || (r.https == nil && c.want != nil) {
			continue
		}
		workloads = append(workloads, c.route.Workload)
		routes[c.route.Workload] = nil
		if c.want != nil {
			routes[c.route.Workload] = &c.route
		}
	}
	if len(workloads) == 0 {
		return
	}
	_, err := r.updateTLS(ctx, workloads, func(app *tlsApp, w string) (owned, error) {
		return r.want(app, w, routes[w])
	})
	if err == nil {
		return
	}
	for _, c := range batch {
		if c.err == nil {
			c.err = fmt.Errorf("the route is written, but its certificates are not: %w", err)
		}
	}
}

// applyChanges applies batch, in order, to the route list of one read of
// the server. A change that the domain rule refuses fails alone (its err
// is set); the others go on. Upserts replace a route in place, at its
// index, so it keeps its position; new routes are appended.
func (r *Router) applyChanges(srv *server, batch []*change) (routes []json.RawMessage, changed bool, err error) {
	routes = slices.Clone(srv.routes)
	for _, c := range batch {
		c.err = nil
		id := IDPrefix + c.route.Workload
		i := slices.IndexFunc(routes, func(raw json.RawMessage) bool { return routeID(raw) == id })
		if c.want == nil {
			if i >= 0 {
				routes = slices.Delete(routes, i, i+1)
				changed = true
			}
			continue
		}
		// Checked on the read the write is conditional on: no other
		// writer can route one of these domains in between.
		others, err := r.parseRoutes(&server{routes: routes})
		if err != nil {
			return nil, false, err
		}
		if err := proxy.CheckDomains(c.route, others); err != nil {
			c.err = err
			continue
		}
		if i >= 0 && sameJSON(routes[i], *c.want) {
			continue
		}
		raw, err := json.Marshal(c.want)
		if err != nil {
			return nil, false, err
		}
		if i >= 0 {
			routes[i] = raw
		} else {
			routes = append(routes, raw)
		}
		changed = true
	}
	return routes, changed, nil
}
