// Package hulltest runs containers from `go test`, as net/http/httptest runs
// HTTP servers: each helper takes the test, fails it with a message that says
// what went wrong, and undoes what it did in t.Cleanup.
//
//	func TestAPI(t *testing.T) {
//		t.Parallel()
//		ref := hulltest.Image(t, hulltest.WithGoBinary("./cmd/api"), hulltest.WithExpose("8080/tcp"))
//		c := hulltest.Run(t, ref)
//		hulltest.WaitFor(t, c, hulltest.ForHTTP("8080/tcp", "/healthz", 200))
//		resp, err := http.Get("http://" + hulltest.Endpoint(t, c, "8080/tcp") + "/items")
//		...
//	}
//
// Run pulls the image if it is missing, starts the container with the
// image's EXPOSEd ports published on random ports of 127.0.0.1 (Endpoint
// says which), labels it with the test's name, writes its logs to t.Log if
// the test failed, and removes it when the test ends. WaitFor waits for a
// port, a log line, an HTTP status, a command that exits 0, or any
// combination, within the test's deadline; when a wait times out the
// failure names it and shows the container's last log lines.
//
// Image makes a small image offline (files, a static busybox from the host,
// a Go main package compiled with CGO_ENABLED=0), Registry starts a
// throwaway in-process registry, and Network gives a test its own bridge on
// which its containers find each other by alias.
//
// # State and cleanup
//
// Every test gets its own *hull.Runtime (Runtime) on one shared state root,
// $HULL_TEST_ROOT or hull-test under os.UserCacheDir, so that parallel
// tests and the several test binaries of one `go test ./...` pull each
// image once. Nothing of a test outlives it: its containers belong to its
// process (hull kills them if the process dies, even by SIGKILL or a test
// timeout), its Runtime is closed in t.Cleanup, and the first Runtime a
// test binary opens removes the containers and networks that dead test
// binaries left on the root. Pulled and built images stay in the root
// (delete the directory to reclaim the space).
//
// # Requirements
//
// hull runs containers on Linux, as root, with overlayfs and cgroups, in a
// program built with cgo. A test that cannot run here is skipped with a
// message naming what is missing ("hulltest: needs root ..."), never failed.
package hulltest
