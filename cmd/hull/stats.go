package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hullbox/hull"
)

// statsHeader is the header of docker stats's table.
const statsHeader = "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS"

// statsRow formats one container's sample as a row of statsHeader.
func statsRow(c *hull.Container, s hull.Stats) string {
	return fmt.Sprintf("%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s\t%s / %s\t%d",
		shortID(c.ID(), false), c.Name(), s.CPU.Percent,
		binarySize(s.Memory.Usage), binarySize(s.Memory.Limit), s.Memory.Percent,
		"0B / 0B", humanSize(s.IO.ReadBytes, 3), humanSize(s.IO.WriteBytes, 3), s.Pids.Current)
}

// streamStats redraws the table of ctrs every second, as docker stats
// does without --no-stream, until ctx ends (Ctrl-C). A container that
// exits shows dashes.
func streamStats(ctx context.Context, w io.Writer, ctrs []*hull.Container) error {
	var mu sync.Mutex
	latest := make([]*hull.Stats, len(ctrs))
	var wg sync.WaitGroup
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := c.StatsStream(ctx, time.Second)
			if err != nil {
				return // not running: dashes
			}
			for s := range stream {
				mu.Lock()
				latest[i] = &s
				mu.Unlock()
			}
			mu.Lock()
			latest[i] = nil
			mu.Unlock()
		}()
	}
	defer wg.Wait()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil // Ctrl-C ends the stream: not an error
			case <-t.C:
			}
		} else {
			// The first samples come at once (each takes a moment for
			// its CPU percentage).
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
		fmt.Fprint(w, "\033[2J\033[H") // clear the screen, like docker
		tw := newTable(w, 10, 1)
		fmt.Fprintln(tw, statsHeader)
		mu.Lock()
		for i, c := range ctrs {
			if s := latest[i]; s != nil {
				fmt.Fprintln(tw, statsRow(c, *s))
			} else {
				fmt.Fprintf(tw, "%s\t%s\t--\t-- / --\t--\t--\t--\t--\n", shortID(c.ID(), false), c.Name())
			}
		}
		mu.Unlock()
		if err := tw.Flush(); err != nil {
			return err
		}
	}
}
