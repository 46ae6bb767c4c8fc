package rollout

import (
	"errors"
	"testing"
)

// TestReasonIsTheFirstLineOnly: a failure report, which a Git host shows on
// the pull request, says what failed without the gate's log lines or
// terminal escapes.
func TestReasonIsTheFirstLineOnly(t *testing.T) {
	t.Parallel()
	err := errors.New("container web-1-ab of workload \"web\" failed its gate: health check /healthz: 500\x1b[0m\nlast log lines:\nDATABASE_URL=secret")
	if got, want := reason(err), `container web-1-ab of workload "web" failed its gate: health check /healthz: 500[0m`; got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
}
