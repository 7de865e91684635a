#!/usr/bin/env python3
"""Runs one video tool for N seconds and measures it from the outside, the same
way for every tool (used by bench/video/compare.sh):

  measure.py --seconds 60 --hls DIR [--steady-from 5] [--name NAME] -- COMMAND...

- CPU % of one core: utime+stime of the process (all its threads) from
  /proc/PID/stat, divided by wall time, over the whole run ("cpu_pct") and over
  the steady window [--steady-from, end] ("cpu_steady_pct").
- Peak RSS: VmHWM from /proc/PID/status (last value read before the end).
- First playable playlist: seconds from spawn until DIR/live.m3u8 lists a
  segment.
- Segment publish delay: every 50 ms the playlist is read; when segment k first
  appears at time T_k (seconds since spawn), its end on the stream timeline is
  E_k = the sum of the EXTINF durations of segments 0..k. T_k - E_k is how long
  after the tool was *spawned* + E_k the segment became fetchable: an upper
  bound of the delay from "frame k's last frame entered the tool" to
  "segment k listed", because the tool's start-up (reading the first frame)
  is inside it. The median over segments 3..n is reported.
- HLS latency estimate = publish delay + 3 x EXT-X-TARGETDURATION (hls.js's
  default liveSyncDurationCount: the player starts 3 target durations behind
  the end of the last listed segment), the latency right after a segment
  appears; half a segment more on average.

At the end the tool gets SIGINT (ffmpeg finishes its files) unless it already
exited or --no-signal is given (a tool that stops by itself, e.g. video_bench
--seconds N+1: measuring ends at N, it may print its own figures); SIGKILL
after 15 s more. Prints one JSON line with the tool's last stdout line as
"tool_says".
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def read_playlist(path):
    """(media_sequence, target_duration, [(uri, duration)])"""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    seq, target, segs, dur = 0, None, [], None
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.split(":")[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":")[1])
        elif line.startswith("#EXTINF:"):
            dur = float(re.split("[:,]", line)[1])
        elif line and not line.startswith("#") and dur is not None:
            segs.append((line, dur))
            dur = None
    return seq, target, segs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--steady-from", type=float, default=5)
    ap.add_argument("--hls", required=True)
    ap.add_argument("--name", default="")
    ap.add_argument("--no-signal", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    playlist = os.path.join(a.hls, "live.m3u8")

    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    pid = proc.pid
    first_playlist = None
    seen = {}  # media sequence number -> (appeared_s, duration)
    durations = {}
    target = None
    cpu_at_steady = None
    cpu_last, t_last, hwm = 0.0, t0, 0
    while True:
        now = time.monotonic()
        el = now - t0
        if proc.poll() is not None:
            break
        try:
            cpu_last, t_last, hwm = cpu_seconds(pid), now, max(hwm, hwm_kb(pid))
        except (OSError, ValueError):
            break
        if cpu_at_steady is None and el >= a.steady_from:
            cpu_at_steady = (cpu_last, now)
        pl = read_playlist(playlist)
        if pl:
            seq, td, segs = pl
            target = td or target
            for i, (uri, d) in enumerate(segs):
                n = seq + i
                durations[n] = d
                if n not in seen:
                    seen[n] = el
            if segs and first_playlist is None:
                first_playlist = el
        if el >= a.seconds:
            break
        time.sleep(0.05)

    wall = t_last - t0
    if proc.poll() is None and not a.no_signal:
        proc.send_signal(signal.SIGINT)
    try:
        said, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        said, _ = proc.communicate()
    said = said.strip().splitlines()[-1] if said.strip() else ""

    # Stream-timeline end of each segment: the durations of all segments up to
    # it (sequence numbers start at 0 for both tools; a gap would be a segment
    # never seen, counted with the target duration).
    delays = []
    end = 0.0
    for n in range(0, max(seen) + 1 if seen else 0):
        end += durations.get(n, target or 2.0)
        if n in seen and n >= 3:
            delays.append(seen[n] - end)
    out = {
        "tool": a.name or os.path.basename(cmd[0]),
        "seconds": round(wall, 1),
        "cpu_pct": round(100 * cpu_last / wall, 1) if wall > 0 else None,
        "cpu_steady_pct": round(100 * (cpu_last - cpu_at_steady[0]) / (t_last - cpu_at_steady[1]), 1)
        if cpu_at_steady and t_last > cpu_at_steady[1] else None,
        "peak_rss_mb": round(hwm / 1024, 1),
        "first_playlist_s": round(first_playlist, 2) if first_playlist is not None else None,
        "segments": len(seen),
        "target_duration_s": target,
        "publish_delay_s": round(statistics.median(delays), 2) if delays else None,
        "hls_latency_s": round(statistics.median(delays) + 3 * target, 2) if delays and target else None,
        "exit": proc.returncode,
        "tool_says": said,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
