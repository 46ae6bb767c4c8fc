package acctest

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// startCaddy starts a Caddy inside the host's namespace: admin API on the
// host's 127.0.0.1:2019 only, HTTPURL on the host's address, port 80.
func (h *Host) startCaddy() error {
	dir := filepath.Join(h.dir, "caddy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := startCaddy(ctx, dir, false, "", caddyPlacement{
		netns:     h.netns,
		adminAddr: "127.0.0.1:2019",
		httpHost:  h.Addr,
		httpPort:  80,
		admin:     h.HTTPClient(),
	})
	if err != nil {
		return err
	}
	h.undo.push("stop caddy", func() error { c.Stop(); return nil })
	h.Caddy = c
	return nil
}
