package testharness

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
)

// startService runs the store and the front end on a network of the
// test's own, the store under the alias "kv", and returns them once the
// front end's health check passes, with the front end's base URL.
func startService(t *testing.T) (web, kv *hull.Container, url string) {
	t.Helper()
	// Compiled with CGO_ENABLED=0 from this module's source: static, and
	// offline. Tests that make the same image share it.
	kvImage := hulltest.Image(t, hulltest.WithGoBinary("./kv"))
	webImage := hulltest.Image(t, hulltest.WithGoBinary("./web"), hulltest.WithExpose("8080/tcp"))

	net := hulltest.Network(t)
	kv = hulltest.Run(t, kvImage, hull.WithNetwork(net, hull.WithAlias("kv")))
	hulltest.WaitFor(t, kv, hulltest.ForLog("kv listening"))
	web = hulltest.Run(t, webImage, hull.WithNetwork(net), hull.WithEnv("KV_ADDR=kv:7000"))
	hulltest.WaitFor(t, web, hulltest.ForHTTP("8080/tcp", "/healthz", http.StatusOK))
	return web, kv, "http://" + hulltest.Endpoint(t, web, "8080/tcp")
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestPutGet: what is PUT through the front end is stored behind it and
// read back; an absent key is a 404.
func TestPutGet(t *testing.T) {
	t.Parallel()
	_, _, url := startService(t)
	if code, _ := do(t, http.MethodPut, url+"/kv/greeting", "hello"); code != http.StatusNoContent {
		t.Fatalf("PUT: %d", code)
	}
	if code, body := do(t, http.MethodGet, url+"/kv/greeting", ""); code != http.StatusOK || body != "hello" {
		t.Errorf("GET greeting: %d %q", code, body)
	}
	if code, _ := do(t, http.MethodGet, url+"/kv/absent", ""); code != http.StatusNotFound {
		t.Errorf("GET absent: %d, want 404", code)
	}
}

// TestStoreDown: when the store stops, the front end says so (health 503,
// requests 502) instead of hanging; a test can break its own service.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	web, kv, url := startService(t)
	if err := kv.Stop(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	hulltest.WaitFor(t, web, hulltest.ForHTTP("8080/tcp", "/healthz", http.StatusServiceUnavailable).Within(10*time.Second))
	if code, body := do(t, http.MethodGet, url+"/kv/any", ""); code != http.StatusBadGateway {
		t.Errorf("GET with the store down: %d %q, want 502", code, body)
	}
}
