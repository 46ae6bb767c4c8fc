package provider

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// The troubleshooting guide's status table says what the next apply does
// for each value, which the schema's description does not; its rows must
// still be rollout.Statuses, in that order, so that a status added to the
// engine's list cannot be missing from the guide.
func TestTroubleshootingGuideListsEveryStatus(t *testing.T) {
	guide := filepath.Join("..", "..", "templates", "guides", "troubleshooting.md.tmpl")
	got := statusTableRows(t, guide)
	var want []string
	for _, s := range rollout.Statuses {
		want = append(want, string(s.Status))
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the status table lists %q; rollout.Statuses are %q", guide, got, want)
	}
}

// statusTableRows are the first cells of the table under the guide's
// "What `status` says" heading.
func statusTableRows(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(raw), "\n## What `status` says\n")
	if !found {
		t.Fatalf("%s has no heading \"## What `status` says\"", path)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	var rows []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		if m[1] != "status" { // the header row
			rows = append(rows, m[1])
		}
	}
	return rows
}
