#!/usr/bin/env bash
# Video bench, issue #6: the Sabla program and the equivalent ffmpeg command on
# the same input file, N seconds each, measured the same way from outside
# (bench/video/measure.py): CPU % of one core, peak RSS, time to the first
# playable playlist, HLS publish delay and latency estimate.
#
#   bench/video/compare.sh [SECONDS]        (default 60)
#
# Env: VIDEO_BENCH   path to video_bench (default: build/bench/video/video_bench)
#      SIZES         "1280x720 1920x1080"     PRESETS "veryfast ultrafast"
#      ROUNDS        1 (each round runs every configuration once; the order of
#                    the two tools alternates between rounds)
#      WORK          /tmp/sabla-video-bench (inputs are made once in WORK/inputs;
#                    never in the repository)
#      FPS=30 BITRATE=2500 (kbps, both tools)
# Needs ffmpeg (apt-get install ffmpeg; bench only) and python3.
#
# Both tools: decode the H.264+AAC file in real time, burn in an overlay,
# x264 (same preset, tune zerolatency, 2500 kbit/s with a 600 ms VBV, keyframe
# every 2 s, High profile) + AAC 128 kbit/s, HLS (2 s segments, 6 listed) and a
# Matroska recording from the same encode.
#   sabla:  video_bench --source FILE: the real Program (intervideo slate design,
#           "direct" overlay blend of the real renderer's frame: 3 comments,
#           lower third, ticker; a new comment every 5 s), hlssink2 + splitmuxsink.
#   ffmpeg: -re -i FILE, drawtext textfile=… reload=1 (the text file is replaced
#           every 5 s), libx264, aac, tee muxer to hls + matroska.
set -euo pipefail
SECONDS_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VIDEO_BENCH:-$ROOT/build/bench/video/video_bench}
MEASURE="$ROOT/bench/video/measure.py"
SIZES=${SIZES:-"1280x720 1920x1080"}
PRESETS=${PRESETS:-"veryfast ultrafast"}
ROUNDS=${ROUNDS:-1}
WORK=${WORK:-/tmp/sabla-video-bench}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500}
[ -x "$BIN" ] || { echo "video_bench not found at $BIN (build target video_bench, or set VIDEO_BENCH)" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "ffmpeg is not installed (apt-get install ffmpeg)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed for measure.py" >&2; exit 1; }
mkdir -p "$WORK/inputs"

# 70 s of moving test pattern + tone, H.264 (4 Mbit/s at 720p, 8 at 1080p) + AAC in MP4: a
# camera-like input both tools decode. Made once.
input_for() {
  local size=$1 w=${1%x*} h=${1#*x}
  local f="$WORK/inputs/in-${size}.mp4"
  if [ ! -s "$f" ]; then
    echo "making $f" >&2
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=${w}x${h}:rate=${FPS}" \
      -f lavfi -i sine=frequency=440:sample_rate=48000 -t 70 \
      -c:v libx264 -preset veryfast -b:v $((h >= 1080 ? 8000 : 4000))k -g $((FPS * 2)) -pix_fmt yuv420p \
      -c:a aac -b:a 128k -ac 2 -movflags +faststart "$f.tmp.mp4"
    mv "$f.tmp.mp4" "$f"
  fi
  echo "$f"
}

run_sabla() {  # size preset input outdir
  local w=${1%x*} h=${1#*x}
  rm -rf "$4" && mkdir -p "$4"
  python3 "$MEASURE" --name sabla --no-signal --seconds "$SECONDS_RUN" --hls "$4/hls" -- \
    "$BIN" --seconds "$((SECONDS_RUN + 1))" --width "$w" --height "$h" --fps "$FPS" --preset "$2" \
    --source "$3" --out "$4"
}

run_ffmpeg() {  # size preset input outdir
  local w=${1%x*} h=${1#*x} out=$4
  rm -rf "$out" && mkdir -p "$out/hls"
  local text="$out/overlay.txt"
  write_text() { printf 'viewer %d: comment number %d\nviewer %d: comment number %d\nSara - Engineer | Session\n' \
    "$1" "$1" "$(($1 + 1))" "$(($1 + 1))" > "$text.new" && mv "$text.new" "$text"; }
  write_text 1
  # The equivalent of Sabla's "new comment every 5 s": the file drawtext reloads is replaced.
  ( n=1; while sleep 5; do n=$((n + 1)); write_text "$n"; done ) &
  local writer=$!
  python3 "$MEASURE" --name ffmpeg --seconds "$SECONDS_RUN" --hls "$out/hls" -- \
    ffmpeg -hide_banner -loglevel error -nostdin -re -i "$3" \
      -vf "drawtext=textfile=$text:reload=1:fontcolor=white:fontsize=$((h / 24)):box=1:boxcolor=0x14314d@0.9:x=40:y=h-th-60" \
      -c:v libx264 -preset "$2" -tune zerolatency -profile:v high -b:v "${BITRATE}k" -maxrate "${BITRATE}k" \
      -bufsize "$((BITRATE * 6 / 10))k" -g $((FPS * 2)) -flags:v +global_header \
      -c:a aac -b:a 128k -ar 48000 -ac 2 -map 0:v:0 -map 0:a:0 \
      -f tee "[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments]$out/hls/live.m3u8|[f=matroska]$out/rec.mkv"
  kill "$writer" 2>/dev/null || true
  wait "$writer" 2>/dev/null || true
}

field() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'; }

results=()
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq 1 "$ROUNDS"); do
  for size in $SIZES; do
    input=$(input_for "$size")
    for preset in $PRESETS; do
      tools=(sabla ffmpeg)
      ((round % 2 == 0)) && tools=(ffmpeg sabla)
      for tool in "${tools[@]}"; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "== round $round $size $preset $tool (load $load)" >&2
        line=$("run_$tool" "$size" "$preset" "$input" "$WORK/run-$tool") || true
        line=$(grep '^{' <<<"$line" | tail -1)
        echo "$line" >&2
        results+=("$round|$size|$preset|$tool|$load|$line")
      done
    done
  done
done

echo
echo "| round | size | x264 preset | tool | CPU % of one core (whole run) | CPU % (after 5 s) | peak RSS MB | first playlist s | publish delay s | HLS latency est. s | load avg |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${results[@]}"; do
  IFS='|' read -r round size preset tool load line <<<"$r"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$size" "$preset" "$tool" \
    "$(field "$line" cpu_pct)" "$(field "$line" cpu_steady_pct)" "$(field "$line" peak_rss_mb)" \
    "$(field "$line" first_playlist_s)" "$(field "$line" publish_delay_s)" "$(field "$line" hls_latency_s)" "$load"
done
