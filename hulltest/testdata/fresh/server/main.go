// Command server is the service of the README's hulltest example.
package main

import (
	"fmt"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from a container")
	})
	http.ListenAndServe(":8080", nil)
}
