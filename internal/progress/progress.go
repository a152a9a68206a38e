// Package progress counts the bytes of a transfer (a layer pulled, a
// blob pushed) for its progress reports.
package progress

import "io"

// Every is how many bytes pass between two reports.
const Every = 512 << 10

// Reader returns r counting the bytes read through it: report gets the
// count every Every bytes or more, and once at the end, at EOF or when
// total bytes have been read (net/http stops reading an upload at its
// length, before EOF).
func Reader(r io.Reader, total int64, report func(n int64)) io.Reader {
	return &reader{r: r, total: total, report: report}
}

type reader struct {
	r           io.Reader
	report      func(int64)
	n, last     int64
	total       int64
	reportedEnd bool
}

func (c *reader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	end := err == io.EOF || c.n == c.total
	if c.n-c.last >= Every || (end && !c.reportedEnd) {
		c.last = c.n
		c.reportedEnd = end
		c.report(c.n)
	}
	return n, err
}
