package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// CrashAtEnv names the test hook that makes the provider exit abruptly when a
// deploy has completed a step (see rollout.Steps). Tests use it to prove that
// a kill at any instant leaves traffic on a gated container.
const CrashAtEnv = "TINYFORGE_CRASH_AT"

// crashAt is the engine's AfterStep hook for CrashAtEnv: the provider
// process exits abruptly, as in a power cut, once a deploy has completed
// step; nil (no hook) when step is "".
func crashAt(step string) func(context.Context, string, rollout.Step) {
	if step == "" {
		return nil
	}
	return func(ctx context.Context, workload string, done rollout.Step) {
		if string(done) == step {
			tflog.Warn(ctx, CrashAtEnv+": exiting abruptly", map[string]any{"workload": workload, "step": step})
			os.Exit(75)
		}
	}
}
