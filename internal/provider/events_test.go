package provider

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dockerEvent is one event as `docker events` reports it.
type dockerEvent struct {
	Action string
	// Name is the actor's: the container's or the service's.
	Name string
	Time time.Time
	// Attributes are the actor's: its labels, a container's exitCode and
	// signal.
	Attributes map[string]string
}

// readEvents reads, with docker (an engine's CLI), the events between
// since and now that pass filters ("type=container", "label=k=v").
func readEvents(t *testing.T, docker func(testing.TB, ...string) string, since time.Time, filters ...string) []dockerEvent {
	t.Helper()
	args := []string{"events", "--since", strconv.FormatInt(since.Unix(), 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--format", "{{json .}}"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	var evs []dockerEvent
	for _, line := range strings.Split(strings.TrimSpace(docker(t, args...)), "\n") {
		if line == "" {
			continue
		}
		var raw struct {
			Action   string `json:"Action"`
			TimeNano int64  `json:"timeNano"`
			Actor    struct {
				Attributes map[string]string `json:"Attributes"`
			} `json:"Actor"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		a := raw.Actor.Attributes
		evs = append(evs, dockerEvent{Action: raw.Action, Name: a["name"], Time: time.Unix(0, raw.TimeNano), Attributes: a})
	}
	return evs
}
