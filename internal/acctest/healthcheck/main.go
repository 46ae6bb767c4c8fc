// Command healthcheck is a compose healthcheck for images FROM scratch (the
// test app's), which have no shell and no curl: it GETs its one argument, a
// URL, and exits 0 on a 2xx answer, 1 otherwise. The compose tests build it
// (static) into their database images: acctest.HealthcheckBinary.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		os.Exit(1)
	}
}
