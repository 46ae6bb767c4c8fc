package provider

import (
	"context"
	"log/slog"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// tflogHandler forwards the engine's slog records to tflog, so that
// `TF_LOG=info` shows a deploy's progress. The engine passes each request's
// context down to its log calls; tflog finds its sink in that context.
type tflogHandler struct {
	attrs []slog.Attr
	group string
}

func newEngineLogger() *slog.Logger { return slog.New(&tflogHandler{}) }

func (h *tflogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tflogHandler) Handle(ctx context.Context, r slog.Record) error {
	fields := make(map[string]any, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		fields[h.key(a.Key)] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		fields[h.key(a.Key)] = a.Value.Resolve().Any()
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		tflog.Error(ctx, r.Message, fields)
	case r.Level >= slog.LevelWarn:
		tflog.Warn(ctx, r.Message, fields)
	case r.Level >= slog.LevelInfo:
		tflog.Info(ctx, r.Message, fields)
	default:
		tflog.Debug(ctx, r.Message, fields)
	}
	return nil
}

func (h *tflogHandler) key(k string) string {
	if h.group == "" {
		return k
	}
	return h.group + "." + k
}

func (h *tflogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := &tflogHandler{group: h.group, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
	return next
}

func (h *tflogHandler) WithGroup(name string) slog.Handler {
	return &tflogHandler{group: h.key(name), attrs: h.attrs}
}
