package testutil

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
)

// RequestKind classifies a registry request by method and route.
type RequestKind string

// The kinds of request CountRequests tells apart.
const (
	BlobGet     RequestKind = "blob GET"
	BlobHead    RequestKind = "blob HEAD"
	BlobUpload  RequestKind = "blob upload" // POST, PATCH or PUT under /blobs/uploads/
	ManifestGet RequestKind = "manifest GET"
	// ManifestHead is a HEAD of a manifest, as clients do to resolve a tag.
	ManifestHead RequestKind = "manifest HEAD"
	ManifestPut  RequestKind = "manifest PUT"
	// Other is everything else: /v2/ pings, tag lists, deletes, catalog.
	Other RequestKind = "other"
)

// route is the part of a /v2/ path that tells what a request is about.
type route struct {
	blob     string // digest of a blob request ("sha256:..."), else ""
	upload   bool   // under /blobs/uploads/
	manifest bool   // under /manifests/
}

func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}
	}
	// The repository name may itself contain "blobs" or "manifests", so
	// look at the last segments only.
	segs := strings.Split(rest, "/")
	n := len(segs)
	at := func(i int) string { // i-th segment from the end, 1 = last
		if n-i < 0 {
			return ""
		}
		return segs[n-i]
	}
	switch {
	case n >= 3 && at(2) == "uploads" && at(3) == "blobs":
		return route{upload: true} // .../blobs/uploads/ and .../blobs/uploads/<id>
	case n >= 2 && at(2) == "blobs" && strings.Contains(at(1), ":"):
		return route{blob: at(1)}
	case n >= 2 && at(2) == "manifests" && at(1) != "":
		return route{manifest: true}
	}
	return route{}
}

func kindOf(r *http.Request) RequestKind {
	rt := parseRoute(r.URL.Path)
	switch {
	case rt.blob != "" && r.Method == http.MethodGet:
		return BlobGet
	case rt.blob != "" && r.Method == http.MethodHead:
		return BlobHead
	case rt.upload && (r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut):
		return BlobUpload
	case rt.manifest && r.Method == http.MethodGet:
		return ManifestGet
	case rt.manifest && r.Method == http.MethodHead:
		return ManifestHead
	case rt.manifest && r.Method == http.MethodPut:
		return ManifestPut
	}
	return Other
}

// RequestCounts counts the requests that reached a registry, by kind and, for
// blob GETs, by digest. Its methods are safe for concurrent use.
type RequestCounts struct {
	mu      sync.Mutex
	kinds   map[RequestKind]int
	blobGet map[string]int
}

// CountRequests returns a counter and the middleware that feeds it, for
// WithMiddleware. Requests are counted when they arrive, whatever the reply.
func CountRequests() (*RequestCounts, func(http.Handler) http.Handler) {
	c := &RequestCounts{kinds: map[RequestKind]int{}, blobGet: map[string]int{}}
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := kindOf(r)
			c.mu.Lock()
			c.kinds[k]++
			if k == BlobGet {
				c.blobGet[parseRoute(r.URL.Path).blob]++
			}
			c.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	return c, mw
}

// Get returns how many requests of kind k were seen.
func (c *RequestCounts) Get(k RequestKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[k]
}

// BlobGets returns how many GETs of the blob with digest dgst were seen.
func (c *RequestCounts) BlobGets(dgst string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobGet[dgst]
}

// Snapshot returns a copy of the counts by kind.
func (c *RequestCounts) Snapshot() map[RequestKind]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.kinds)
}

// Reset sets every count back to zero, e.g. after pushing test images.
func (c *RequestCounts) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.kinds)
	clear(c.blobGet)
}

// errCut is what the cut writer returns to the registry once it has killed
// the connection.
var errCut = errors.New("testutil: connection cut")

// CutAfter returns a middleware that breaks the first GET of each blob whose
// body is longer than n bytes: it sends the headers and the first n bytes of
// the real body, then closes the TCP connection, so the client sees a failure
// in the middle of the blob. Every later GET of that blob (with or without a
// Range header) passes through untouched, as do blobs of n bytes or fewer.
func CutAfter(n int64) func(http.Handler) http.Handler {
	var mu sync.Mutex
	claimed := map[string]bool{} // digests whose first GET is taken (or done)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dgst := parseRoute(r.URL.Path).blob
			if r.Method != http.MethodGet || dgst == "" {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			seen := claimed[dgst]
			if !seen {
				claimed[dgst] = true // a concurrent GET passes through
			}
			mu.Unlock()
			if seen {
				next.ServeHTTP(w, r)
				return
			}
			cw := &cutWriter{ResponseWriter: w, left: n}
			next.ServeHTTP(cw, r)
			if !cw.cut {
				// Short blob, or an error reply: the next GET is "first".
				mu.Lock()
				delete(claimed, dgst)
				mu.Unlock()
			}
		})
	}
}

// cutWriter passes the first left body bytes through, then hijacks and
// closes the connection.
type cutWriter struct {
	http.ResponseWriter
	left int64
	cut  bool
}

func (w *cutWriter) WriteHeader(code int) {
	if !w.cut {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if w.cut {
		return 0, errCut
	}
	if int64(len(p)) <= w.left {
		n, err := w.ResponseWriter.Write(p)
		w.left -= int64(n)
		return n, err
	}
	n, err := w.ResponseWriter.Write(p[:w.left])
	w.left -= int64(n)
	if err != nil {
		return n, err
	}
	w.cut = true
	rc := http.NewResponseController(w.ResponseWriter)
	// Flush first: Hijack drops what is still buffered in the response.
	if err := rc.Flush(); err != nil {
		return n, err
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		return n, err
	}
	_ = conn.Close()
	return n, errCut
}

// Flush lets the registry flush through the cut writer until the cut.
func (w *cutWriter) Flush() {
	if !w.cut {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}
