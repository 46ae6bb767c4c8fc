package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// task is the app run as a one-off (a release command): `testapp task
// STEP...` runs each step in order and exits 0 at the end. Steps:
//
//	print=TEXT     TEXT on stdout
//	stderr=TEXT    TEXT on stderr
//	lines=N        N lines "line 1" ... "line N" on stdout
//	env=KEY        "KEY=<value of env KEY>" on stdout (a secret, on purpose)
//	append=PATH    appends one line "<VERSION> <time>" to the file PATH
//	cat=PATH       the file's content on stdout
//	get=URL        "<status> <first body line>" of a GET of URL on stdout;
//	               exits 2 when it gets no answer (a name it cannot resolve)
//	sleep=DUR      waits a Go duration (until SIGTERM, which exits 0)
//	exit=N         exits with code N at once
func task(ctx context.Context, steps []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	for _, step := range steps {
		key, value, _ := strings.Cut(step, "=")
		switch key {
		case "print":
			fmt.Fprintln(stdout, value)
		case "stderr":
			fmt.Fprintln(stderr, value)
		case "lines":
			n, err := strconv.Atoi(value)
			if err != nil {
				fmt.Fprintf(stderr, "task: lines=%q is not a number\n", value)
				return 2
			}
			for i := 1; i <= n; i++ {
				fmt.Fprintf(stdout, "line %d\n", i)
			}
		case "env":
			v, _ := lookupEnv(value)
			fmt.Fprintf(stdout, "%s=%s\n", value, v)
		case "append":
			version, _ := lookupEnv("VERSION")
			f, err := os.OpenFile(value, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				_, err = fmt.Fprintf(f, "%s %s\n", version, time.Now().UTC().Format(time.RFC3339Nano))
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "task: append to %s: %v\n", value, err)
				return 2
			}
		case "cat":
			b, err := os.ReadFile(value)
			if err != nil {
				fmt.Fprintf(stderr, "task: cat %s: %v\n", value, err)
				return 2
			}
			stdout.Write(b)
		case "get":
			line, err := fetch(ctx, value)
			if err != nil {
				fmt.Fprintf(stderr, "task: get %s: %v\n", value, err)
				return 2
			}
			fmt.Fprintln(stdout, line)
		case "sleep":
			d, err := time.ParseDuration(value)
			if err != nil {
				fmt.Fprintf(stderr, "task: sleep=%q is not a Go duration\n", value)
				return 2
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return 0
			}
		case "exit":
			code, err := strconv.Atoi(value)
			if err != nil {
				fmt.Fprintf(stderr, "task: exit=%q is not a number\n", value)
				return 2
			}
			return code
		default:
			fmt.Fprintf(stderr, "task: unknown step %q\n", step)
			return 2
		}
	}
	return 0
}

// fetch gets url and returns "<status> <first line of the body>".
func fetch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return fmt.Sprintf("%d %s", resp.StatusCode, first), nil
}
