// Command app is the tiny HTTP server the internal/docker tests package
// FROM scratch: it answers on $PORT (default 8080), greets with $GREETING,
// serves a file by path (to prove mounts), and writes one startup line to
// stdout and one to stderr (to prove log demultiplexing).
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", os.Getenv("GREETING"))
	})
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	fmt.Printf("testapp listening on :%s\n", port)
	fmt.Fprintln(os.Stderr, "testapp stderr ready")
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
