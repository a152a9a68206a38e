#!/usr/bin/env python3
"""Per-phase medians of a HULL_TRACE file written by bench's BenchmarkRun.

    sudo HULL_TRACE=/tmp/t bench/compare.sh -bench '^BenchmarkRun$' -count 1
    scripts/trace_report.py /tmp/t

Each line is "pid monotonic-ns phase". Lines are ordered by time and cut
into iterations at "B run begin"; a phase's time is the gap since the line
before it, whichever process wrote that (P: hull, C: the init, B: bench).
"""
import collections
import statistics
import sys

events = []
for line in open(sys.argv[1]):
    parts = line.split(None, 2)
    if len(parts) == 3:
        events.append((int(parts[1]), parts[2].strip()))
events.sort()
iters, cur = [], None
for t, what in events:
    if what == "B run begin":
        cur = [(t, what)]
        iters.append(cur)
    elif cur is not None:
        cur.append((t, what))
        if what == "B remove done":
            cur = None  # a warm init starting in between belongs to no iteration
iters = [it for it in iters if it[-1][1] == "B remove done"][1:]  # the first is cold
if not iters:
    sys.exit("no complete iterations")
phases = collections.OrderedDict()
for it in iters:
    for (t0, _), (t1, what) in zip(it, it[1:]):
        phases.setdefault(what, []).append((t1 - t0) / 1e6)
totals = [(it[-1][0] - it[0][0]) / 1e6 for it in iters]
print(f"{len(iters)} iterations: median {statistics.median(totals):.2f} ms, min {min(totals):.2f} ms")
for what, v in phases.items():
    print(f"{what:32s} median {statistics.median(v):7.2f}  min {min(v):6.2f} ms  (n={len(v)})")
