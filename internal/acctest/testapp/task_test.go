package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTaskRunsItsStepsInOrder(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runs")
	var stdout, stderr bytes.Buffer
	env := envFrom(map[string]string{"VERSION": "v2", "SECRET": "canary"})
	code := task(context.Background(), []string{"print=hello", "stderr=warn", "lines=2", "env=SECRET", "append=" + file, "append=" + file, "cat=" + file, "exit=4", "print=never"},
		env, &stdout, &stderr)
	if code != 4 {
		t.Errorf("exit code %d, want 4", code)
	}
	if got, want := stdout.String(), "hello\nline 1\nline 2\nSECRET=canary\n"; !strings.HasPrefix(got, want) || strings.Count(got, "\nv2 ") != 2 {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if stderr.String() != "warn\n" {
		t.Errorf("stderr %q, want %q", stderr.String(), "warn\n")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "v2 ") {
		t.Errorf("append wrote %q, want two lines starting with the version", b)
	}
}

func TestTaskSleepEndsOnSIGTERM(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if code := task(ctx, []string{"sleep=1h", "exit=9"}, envFrom(nil), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("sleep did not end with the context")
	}
}

func TestTaskRefusesAnUnknownStep(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	if code := task(context.Background(), []string{"dance"}, envFrom(nil), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), `"dance"`) {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}

func TestTaskGetsAURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newHandler("v7", "h", true, envFrom(nil)))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := task(context.Background(), []string{"get=" + srv.URL + "/", "get=" + srv.URL + "/env/NONE"}, envFrom(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "200 v7\n404 ") {
		t.Errorf("stdout %q, want \"200 v7\" then a 404", got)
	}
	stderr.Reset()
	if code := task(context.Background(), []string{"get=http://no-such-host.invalid/", "print=never"}, envFrom(nil), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "no-such-host.invalid") {
		t.Errorf("an unreachable URL: code %d, stderr %q; want 2 and the URL", code, stderr.String())
	}
}
