package provider

import (
	"strings"
	"testing"
	"time"
)

func TestParseSinceTakesATimeOrADurationBeforeNow(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-12-07T07:30:00Z":           time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC),
		"2026-12-07T07:30:00.5+01:00":    time.Date(2026, 12, 7, 6, 30, 0, 5e8, time.UTC),
		"15m":                            now.Add(-15 * time.Minute),
		"1h30m":                          now.Add(-90 * time.Minute),
		"2026-12-07T07:30:00.000000001Z": time.Date(2026, 12, 7, 7, 30, 0, 1, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "0s", "2026-12-07 07:30"} {
		if _, err := parseSince(bad, now); err == nil || !strings.Contains(err.Error(), "since must be") || !strings.Contains(err.Error(), "(got \""+bad+"\")") {
			t.Errorf("parseSince(%q) = %v; want the rule and the value", bad, err)
		}
	}
}
