#!/usr/bin/env python3
"""Where a running tool's CPU goes, per thread: runs COMMAND, waits --warmup
seconds, then samples every thread's CPU time and context switches over the
next --seconds from /proc/PID/task/*/ (no perf counters needed: this VM has
none), and prints one line per thread name (threads of the same name summed)
plus the total, then a JSON line with the totals.

  threads.py [--warmup 5] [--seconds 20] [--name NAME] -- COMMAND...

The tool gets SIGINT at the end (SIGKILL 10 s later). Used to compare
pipeline layouts change by change on a shared machine: the CPU time of a
fixed amount of real-time work is much less noisy than CPU % snapshots, and
context switches (voluntary = a thread waited for data, e.g. one queue hop)
are counted exactly.
"""
import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def snapshot(pid):
    """{tid: (comm, cpu_seconds, voluntary_switches, involuntary_switches)}"""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                st = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        vol = invol = 0
        for line in st.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol = int(line.split()[1])
        out[tid] = (comm, cpu, vol, invol)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--name", default="")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    load = open("/proc/loadavg").read().split()[0]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(a.warmup)
    before = snapshot(p.pid)
    t0 = time.monotonic()
    time.sleep(a.seconds)
    after = snapshot(p.pid)
    wall = time.monotonic() - t0
    p.send_signal(signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    per = collections.defaultdict(lambda: [0.0, 0, 0, 0])
    for tid, (comm, cpu, vol, invol) in after.items():
        b = before.get(tid, (comm, 0.0, 0, 0))
        row = per[comm]
        row[0] += cpu - b[1]
        row[1] += vol - b[2]
        row[2] += invol - b[3]
        row[3] += 1
    total = [sum(r[i] for r in per.values()) for i in range(3)]
    print(f"# {a.name} {wall:.1f} s, load {load}")
    print(f"{'thread':<20} {'n':>3} {'CPU %':>7} {'vol cs/s':>9} {'invol cs/s':>10}")
    for comm, r in sorted(per.items(), key=lambda kv: -kv[1][0]):
        print(f"{comm:<20} {r[3]:>3} {100 * r[0] / wall:7.1f} {r[1] / wall:9.0f} {r[2] / wall:10.0f}")
    print(f"{'total':<20} {len(after):>3} {100 * total[0] / wall:7.1f} {total[1] / wall:9.0f} {total[2] / wall:10.0f}")
    print(json.dumps({"name": a.name, "cpu_pct": round(100 * total[0] / wall, 1),
                      "vol_cs_per_s": round(total[1] / wall), "invol_cs_per_s": round(total[2] / wall),
                      "threads": len(after), "load": float(load),
                      "per_thread": {c: round(100 * r[0] / wall, 2) for c, r in per.items()}}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
