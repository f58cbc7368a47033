#!/usr/bin/env python3
"""Summarises a SKIFF_SFTP_TRACE file (transport/sftp_trace.h): SFTP requests per type
(count, how many the submitter waited for, bytes each way, summed latency) and a timeline
of the average number of requests in flight with the types started in each slice.

usage: bench/sftp_trace_summary.py TRACE [SLICES]
A slice with ~1 request in flight and none started is the client waiting on one request
(the server works on it alone); a long run of them is a serial phase.
"""
import collections
import sys

recs = []
for line in open(sys.argv[1]):
    a, b, t, w, q, r = line.split()
    recs.append((int(a), int(b), t, int(w), int(q), int(r)))
recs.sort()
t0 = recs[0][0]
t1 = max(r[1] for r in recs)
print("span %.3f s, %d requests" % ((t1 - t0) / 1e6, len(recs)))
per = collections.defaultdict(lambda: [0, 0, 0, 0, 0.0])
for a, b, t, w, q, r in recs:
    x = per[t]
    x[0] += 1
    x[1] += w
    x[2] += q
    x[3] += r
    x[4] += (b - a) / 1e6
print("%-24s %6s %6s %10s %10s %8s" % ("type", "n", "waited", "req_B", "reply_B", "sum_s"))
for t, x in sorted(per.items(), key=lambda kv: -kv[1][2] - kv[1][3]):
    print("%-24s %6d %6d %10d %10d %8.3f" % (t, *x))
print("total %28d %10d" % (sum(x[2] for x in per.values()), sum(x[3] for x in per.values())))
slices = int(sys.argv[2]) if len(sys.argv) > 2 else 20
step = (t1 - t0) / slices
for i in range(slices):
    lo, hi = t0 + i * step, t0 + (i + 1) * step
    busy = sum(min(r[1], hi) - max(r[0], lo) for r in recs if r[0] < hi and r[1] > lo) / step
    started = collections.Counter(r[2] for r in recs if lo <= r[0] < hi)
    print("%6.2f-%6.2f s  in flight %5.1f  started %s" %
          ((lo - t0) / 1e6, (hi - t0) / 1e6, busy, dict(started.most_common(5))))
