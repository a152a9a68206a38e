// Command web is an HTTP front end to the kv store at $KV_ADDR (default
// kv:7000) on :8080: PUT /kv/KEY stores the request body, GET /kv/KEY
// returns it (404 if absent), /healthz is 200 while the store answers and
// 503 when it does not; a request the store cannot serve is a 502.
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

var kvAddr = "kv:7000"

// call sends one command to the store and returns its answer line.
func call(cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", kvAddr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(conn, cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func main() {
	if a := os.Getenv("KV_ADDR"); a != "" {
		kvAddr = a
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if ans, err := call("PING"); err != nil || ans != "PONG" {
			http.Error(w, fmt.Sprintf("store: %q %v", ans, err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		var ans string
		var err error
		switch r.Method {
		case http.MethodPut:
			body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
			ans, err = call("SET " + key + " " + strings.ReplaceAll(string(body), "\n", " "))
		case http.MethodGet:
			ans, err = call("GET " + key)
		default:
			http.Error(w, "PUT or GET", http.StatusMethodNotAllowed)
			return
		}
		switch {
		case err != nil:
			http.Error(w, "store: "+err.Error(), http.StatusBadGateway)
		case ans == "OK":
			w.WriteHeader(http.StatusNoContent)
		case ans == "NIL":
			http.NotFound(w, r)
		case strings.HasPrefix(ans, "VALUE "):
			fmt.Fprint(w, strings.TrimPrefix(ans, "VALUE "))
		default:
			http.Error(w, "store: "+ans, http.StatusBadGateway)
		}
	})
	log.Printf("web listening on :8080, store at %s", kvAddr)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
