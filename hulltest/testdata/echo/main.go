// Command echo is the HTTP server hulltest's tests run in a container: it
// answers every path with "hello <path>" (/healthz: 503 until $DELAY has
// passed, then 200) and says on stdout when it listens.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	delay, _ := time.ParseDuration(os.Getenv("DELAY"))
	start := time.Now()
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < delay {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})
	time.Sleep(delay / 2)
	fmt.Println("listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
