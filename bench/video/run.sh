#!/usr/bin/env bash
# Video bench: the Sabla program (bench/video/video_bench) and the equivalent
# ffmpeg command, N seconds each on the same input, CPU % of one core and RSS
# side by side.
#
#   bench/video/run.sh [SECONDS] [WIDTHxHEIGHT] [PRESET]      e.g. run.sh 60 1280x720 veryfast
#
# Env: VIDEO_BENCH=path/to/video_bench (default: build/bench/video/video_bench),
#      INPUT=file (default: live test card; a file is looped by both tools),
#      FPS=30, BITRATE=2500 (kbps), OUT=/tmp/sabla-video-bench-run
# The machine is shared: run twice and keep the ratios rather than the absolutes.
set -euo pipefail
SECONDS_RUN=${1:-60}
SIZE=${2:-1280x720}
PRESET=${3:-veryfast}
W=${SIZE%x*}
H=${SIZE#*x}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500}
OUT=${OUT:-/tmp/sabla-video-bench-run}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VIDEO_BENCH:-$ROOT/build/bench/video/video_bench}
[ -x "$BIN" ] || { echo "video_bench not found at $BIN (build target video_bench, or set VIDEO_BENCH)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"

src_args=()
[ -n "${INPUT:-}" ] && src_args=(--source "loop:$(realpath "$INPUT")")

echo "== sabla: ${W}x${H}@${FPS} x264 $PRESET, overlay (renderer, 3 comments + lower third + ticker) + HLS + recording, ${SECONDS_RUN}s"
sabla_line=$("$BIN" --seconds "$SECONDS_RUN" --width "$W" --height "$H" --fps "$FPS" --preset "$PRESET" \
  --out "$OUT/sabla" "${src_args[@]}")
echo "$sabla_line"

ff_line="tool=ffmpeg not installed (apt-get install ffmpeg to compare)"
command -v ffmpeg >/dev/null 2>&1 || echo "== $ff_line"
if command -v ffmpeg >/dev/null 2>&1; then
  echo "== ffmpeg: same size, preset, bitrate; drawtext reload=1; HLS + Matroska via tee"
  mkdir -p "$OUT/ff"
  printf 'viewer 1: comment number 1\nviewer 2: comment number 2\n' > "$OUT/ff/overlay.txt"
  if [ -n "${INPUT:-}" ]; then
    in_args=(-re -stream_loop -1 -i "$INPUT")
    maps=(-map 0:v:0 -map 0:a:0?)
  else
    in_args=(-re -f lavfi -i "testsrc2=size=${W}x${H}:rate=${FPS}" -f lavfi -i "sine=frequency=440:sample_rate=48000")
    maps=(-map 0:v -map 1:a)
  fi
  fs=$((H / 24))
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/ff/time.txt" timeout -s INT "$SECONDS_RUN" \
    ffmpeg -hide_banner -loglevel error -nostdin "${in_args[@]}" \
      -vf "scale=${W}:${H},drawtext=textfile=$OUT/ff/overlay.txt:reload=1:fontcolor=white:fontsize=${fs}:box=1:boxcolor=0x14314d@0.9:x=40:y=h-th-60" \
      -c:v libx264 -preset "$PRESET" -tune zerolatency -b:v "${BITRATE}k" -g $((FPS * 2)) -keyint_min $((FPS * 2)) -sc_threshold 0 \
      -c:a aac -b:a 128k -ar 48000 "${maps[@]}" \
      -f tee "[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments]$OUT/ff/live.m3u8|[f=matroska]$OUT/ff/rec.mkv" || true
  read -r wall user sys maxrss < "$OUT/ff/time.txt"
  ff_line=$(awk -v w="$wall" -v u="$user" -v s="$sys" -v m="$maxrss" \
    'BEGIN { printf "tool=ffmpeg seconds=%.1f cpu_pct=%.1f peak_rss_mb=%.1f", w, 100 * (u + s) / w, m / 1024 }')
  echo "$ff_line"
fi

echo
printf '%-8s %8s %12s\n' tool cpu_pct peak_rss_mb
for line in "$sabla_line" "$ff_line"; do
  tool=$(sed -n 's/.*tool=\([^ ]*\).*/\1/p' <<<"$line")
  cpu=$(sed -n 's/.*cpu_pct=\([^ ]*\).*/\1/p' <<<"$line")
  rss=$(sed -n 's/.*peak_rss_mb=\([^ ]*\).*/\1/p' <<<"$line")
  printf '%-8s %8s %12s\n' "$tool" "${cpu:--}" "${rss:--}"
done
