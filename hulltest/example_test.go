package hulltest_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
)

// asTest runs body as `go test` runs a test function, so that these
// examples run and their output is checked. In your code, body is the
// body of a func TestXxx(t *testing.T). (It quiets -v and pins -count and
// -cpu for the one run, which would otherwise print or repeat.)
func asTest(name string, body func(t *testing.T)) {
	for f, v := range map[string]string{"test.v": "false", "test.count": "1", "test.cpu": ""} {
		old := flag.Lookup(f).Value.String()
		flag.Set(f, v)
		defer flag.Set(f, old)
	}
	testing.RunTests(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: name, F: body}})
}

// A container for the test: removed when the test ends, killed if the
// test binary dies.
func ExampleRun() {
	asTest("ExampleRun", func(t *testing.T) {
		ref := hulltest.Image(t, hulltest.WithBusybox())
		c := hulltest.Run(t, ref, hull.WithCmd("sh", "-c", "echo started; exec sleep 60"))
		hulltest.WaitFor(t, c, hulltest.ForLog("^started$"))
		fmt.Print(hulltest.Exec(t, c, "echo", "hello from", c.Name()[:5]))
	})
	// Output: hello from hull_
}

// An HTTP service compiled from a Go main package, its EXPOSEd port
// published on 127.0.0.1, used once it answers its health check.
func ExampleEndpoint() {
	asTest("ExampleEndpoint", func(t *testing.T) {
		ref := hulltest.Image(t, hulltest.WithGoBinary("./testdata/echo"), hulltest.WithExpose("8080/tcp"))
		c := hulltest.Run(t, ref)
		hulltest.WaitFor(t, c, hulltest.ForHTTP("8080/tcp", "/healthz", http.StatusOK))

		resp, err := http.Get("http://" + hulltest.Endpoint(t, c, "8080/tcp") + "/greeting")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.Status, " ", string(body))
	})
	// Output: 200 OK hello /greeting
}

// Waits combine; one that fails says which, and what the container said.
func ExampleStrategy_Wait() {
	asTest("ExampleStrategy_Wait", func(t *testing.T) {
		c := hulltest.Run(t, hulltest.Image(t, hulltest.WithBusybox()),
			hull.WithCmd("sh", "-c", "echo 'config: bad port'; exec sleep 60"))
		wait := hulltest.ForAny(hulltest.ForLog("listening"), hulltest.ForPort("8080")).Within(500 * time.Millisecond)
		err := wait.Wait(t.Context(), c)

		var we *hulltest.WaitError
		if errors.As(err, &we) {
			fmt.Println(we.Wait)
			fmt.Println(we.Logs)
		}
	})
	// Output:
	// any of (log "listening"; port 8080)
	// [config: bad port]
}

// Containers on a test's own network find each other by alias.
func ExampleNetwork() {
	asTest("ExampleNetwork", func(t *testing.T) {
		ref := hulltest.Image(t, hulltest.WithBusybox(), hulltest.WithGoBinary("./testdata/echo"))
		n := hulltest.Network(t)
		hulltest.Run(t, ref, hull.WithNetwork(n, hull.WithAlias("api")), hull.WithCmd("/echo"))
		client := hulltest.Run(t, ref, hull.WithNetwork(n), hull.WithCmd("sleep", "60"))
		hulltest.WaitFor(t, client, hulltest.ForExec("wget", "-qO-", "http://api:8080/"))
		fmt.Print(hulltest.Exec(t, client, "wget", "-qO-", "http://api:8080/items"))
	})
	// Output: hello /items
}

// An image made from files, pushed to a throwaway registry and pulled
// back into another root.
func ExampleRegistry() {
	asTest("ExampleRegistry", func(t *testing.T) {
		ctx := t.Context()
		ref := hulltest.Image(t, hulltest.WithFile("/etc/motd", []byte("hi\n"), 0o644))
		rt := hulltest.Runtime(t)
		target := hulltest.Registry(t) + "/team/motd:1"
		if err := rt.Tag(ctx, ref, target); err != nil {
			t.Fatal(err)
		}
		if err := rt.Push(ctx, target); err != nil {
			t.Fatal(err)
		}

		other, err := hull.Open(ctx, hull.WithRoot(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		img, err := other.Pull(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(strings.TrimPrefix(img.RepoTags()[0], target[:strings.Index(target, "/")]))
	})
	// Output: /team/motd:1
}
