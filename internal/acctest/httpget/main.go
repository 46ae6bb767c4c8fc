// Command httpget is the HTTP client of tests that look from inside a
// container (images FROM scratch have no curl, and the static busybox's
// wget crashes resolving names without libc's NSS modules): it GETs each
// URL argument and prints one line per answer, "<status> <first line of
// the body>", or "error: <why>". With -all, each URL's host name is
// resolved to all its addresses (Docker's tasks.<service> DNS name, say)
// and every address is asked, one line "<address> <status> <body>" each.
// It exits 1 when any request failed or answered other than 2xx.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	all := flag.Bool("all", false, "ask every address the URL's host name resolves to")
	flag.Parse()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	failed := false
	for _, raw := range flag.Args() {
		if !*all {
			line, ok := get(client, raw)
			fmt.Println(line)
			failed = failed || !ok
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			fmt.Println("error:", err)
			failed = true
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(ctx, u.Hostname())
		cancel()
		if err != nil {
			fmt.Println("error:", err)
			failed = true
			continue
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			v := *u
			v.Host = net.JoinHostPort(a, u.Port())
			line, ok := get(client, v.String())
			fmt.Println(a, line)
			failed = failed || !ok
		}
	}
	if failed {
		os.Exit(1)
	}
}

func get(client *http.Client, url string) (string, bool) {
	resp, err := client.Get(url)
	if err != nil {
		return "error: " + err.Error(), false
	}
	defer resp.Body.Close()
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(first)), resp.StatusCode >= 200 && resp.StatusCode < 300
}
