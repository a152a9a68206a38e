package fresh

import (
	"io"
	"net/http"
	"testing"

	"github.com/hullbox/hull/hulltest"
)

func TestServer(t *testing.T) {
	// Compile ./server statically into a one-layer image, run it, and wait
	// until it answers on its published port.
	ref := hulltest.Image(t, hulltest.WithGoBinary("./server"), hulltest.WithExpose("8080/tcp"))
	c := hulltest.Run(t, ref)
	hulltest.WaitFor(t, c, hulltest.ForHTTP("8080/tcp", "/", http.StatusOK))

	resp, err := http.Get("http://" + hulltest.Endpoint(t, c, "8080/tcp") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello from a container\n" {
		t.Errorf("got %q", body)
	}
}
