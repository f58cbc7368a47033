#!/usr/bin/env python3
"""Per-process CPU of one command and of what it makes other processes do.

usage: bench/proc_cpu.py ROOTPID... -- CMD...
Runs CMD, polls /proc every 10 ms and, for every process descending from CMD or from one
of ROOTPIDs (e.g. the bench sshd's pid: its session processes, internal-sftp included),
keeps the last utime+stime seen; prints to stderr "wall W cpu_sum S cmd_rusage R | comm=CPU(xN)..."
(cmd_rusage: CMD and its waited-for children, exact; the per-comm sums miss up to 10 ms of
each process's last slice, and processes that live under 10 ms).
"""
import os, subprocess, sys, time, collections
i = sys.argv.index('--')
roots = set(int(x) for x in sys.argv[1:i]); cmd = sys.argv[i+1:]
tck = os.sysconf('SC_CLK_TCK')
seen = {}  # pid -> (comm, cpu ticks)
def scan(roots):
    info = {}
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            s = open('/proc/%s/stat' % p).read()
        except OSError: continue
        r = s.rfind(')'); comm = s[s.find('(')+1:r]; f = s[r+2:].split()
        info[int(p)] = (comm, int(f[1]), int(f[11]) + int(f[12]))
    for pid, (comm, ppid, cpu) in info.items():
        q, ok, n = pid, False, 0
        while q in info and n < 50:
            if q in roots: ok = True; break
            q = info[q][1]; n += 1
        if ok and pid not in roots:
            seen[pid] = (comm, cpu)
t0 = time.time()
p = subprocess.Popen(cmd)
roots.add(p.pid)
while p.poll() is None:
    scan(roots); time.sleep(0.01)
wall = time.time() - t0
by = collections.defaultdict(lambda: [0, 0])
for pid, (comm, cpu) in seen.items():
    by[comm][0] += cpu; by[comm][1] += 1
# the command itself: exact from rusage of children
import resource
r = resource.getrusage(resource.RUSAGE_CHILDREN)
tot = sum(v[0] for v in by.values()) / tck
out = " ".join("%s=%.2f(x%d)" % (c, v[0] / tck, v[1]) for c, v in sorted(by.items()))
if os.environ.get("PROC_CPU_PIDS"):  # every process: pid comm cpu
    for pid, (comm, cpu) in sorted(seen.items()):
        if cpu: print("  pid %d %s %.2f" % (pid, comm, cpu / tck), file=sys.stderr)
print("wall %.2f cpu_sum %.2f cmd_rusage %.2f | %s" % (wall, tot, r.ru_utime + r.ru_stime, out), file=sys.stderr)
sys.exit(p.returncode)
