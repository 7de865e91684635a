#!/usr/bin/env bash
# Where the Sabla program's CPU goes, against ffmpeg: the same input file, one
# size and preset, variants that remove one part at a time (measured like
# compare.sh, by bench/video/measure.py).
#
#   bench/video/breakdown.sh [SECONDS] [SIZE] [PRESET]     (default 30 1280x720 veryfast)
#
#   sabla full          relay + overlay + HLS + recording (= compare.sh)
#   sabla no overlay    the same without the overlay blend
#   sabla no recording  without the Matroska branch
#   sabla encode only   decode -> inter hop -> x264 + AAC, no outputs, no overlay
#   gst encode only     gst-launch-1.0: decode -> x264 + AAC -> fakesink (no inter hop)
#   ffmpeg encode only  ffmpeg -re: decode -> x264 + AAC -> null muxer
#   ffmpeg full         = compare.sh's ffmpeg command
# Env: VIDEO_BENCH, WORK (inputs from compare.sh in WORK/inputs), FPS=30, BITRATE=2500.
set -euo pipefail
SECONDS_RUN=${1:-30}
SIZE=${2:-1280x720}
PRESET=${3:-veryfast}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VIDEO_BENCH:-$ROOT/build/bench/video/video_bench}
MEASURE="$ROOT/bench/video/measure.py"
WORK=${WORK:-/tmp/sabla-video-bench}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500}
W=${SIZE%x*}
H=${SIZE#*x}
IN="$WORK/inputs/in-$SIZE.mp4"
[ -s "$IN" ] || { echo "no input $IN: run compare.sh once (it makes the inputs)" >&2; exit 1; }
OUT="$WORK/breakdown"
rm -rf "$OUT" && mkdir -p "$OUT"

measure() {  # name args...
  local name=$1
  shift
  echo "== $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  python3 "$MEASURE" --name "$name" --seconds "$SECONDS_RUN" --hls "$OUT/$name/hls" "$@" | tee -a "$OUT/results.jsonl"
}
sabla() {  # name flags...
  local name=$1
  shift
  measure "$name" --no-signal -- "$BIN" --seconds "$((SECONDS_RUN + 1))" --width "$W" --height "$H" --fps "$FPS" \
    --preset "$PRESET" --source "$IN" --out "$OUT/$name" "$@"
}
x264_gst="x264enc speed-preset=$PRESET tune=zerolatency bitrate=$BITRATE key-int-max=$((FPS * 2)) ! video/x-h264,profile=high"
x264_ff=(-c:v libx264 -preset "$PRESET" -tune zerolatency -profile:v high -b:v "${BITRATE}k" -maxrate "${BITRATE}k"
         -bufsize "$((BITRATE * 6 / 10))k" -g $((FPS * 2)))

sabla sabla-full
sabla sabla-no-overlay --no-overlay
sabla sabla-no-recording --no-rec
sabla sabla-encode-only --no-overlay --no-hls --no-rec
# Real time like the others: the sinks synchronise to the clock.
measure gst-encode-only -- gst-launch-1.0 -q filesrc location="$IN" ! qtdemux name=d \
  d.video_0 ! queue ! h264parse ! avdec_h264 ! videoconvert ! $x264_gst ! fakesink sync=true \
  d.audio_0 ! queue ! aacparse ! avdec_aac ! audioconvert ! audioresample ! avenc_aac bitrate=128000 ! fakesink sync=true
measure ffmpeg-encode-only -- ffmpeg -hide_banner -loglevel error -nostdin -re -i "$IN" "${x264_ff[@]}" \
  -c:a aac -b:a 128k -ar 48000 -ac 2 -f null /dev/null
printf 'viewer 1: comment number 1\nviewer 2: comment number 2\nSara - Engineer | Session\n' > "$OUT/overlay.txt"
mkdir -p "$OUT/ffmpeg-full/hls"
measure ffmpeg-full -- ffmpeg -hide_banner -loglevel error -nostdin -re -i "$IN" \
  -vf "drawtext=textfile=$OUT/overlay.txt:reload=1:fontcolor=white:fontsize=$((H / 24)):box=1:boxcolor=0x14314d@0.9:x=40:y=h-th-60" \
  "${x264_ff[@]}" -flags:v +global_header -c:a aac -b:a 128k -ar 48000 -ac 2 -map 0:v:0 -map 0:a:0 \
  -f tee "[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments]$OUT/ffmpeg-full/hls/live.m3u8|[f=matroska]$OUT/ffmpeg-full/rec.mkv"

echo
echo "| variant ($SIZE $PRESET, ${SECONDS_RUN}s) | CPU % of one core (after 5 s) | peak RSS MB |"
echo "|---|---|---|"
while read -r line; do
  name=$(sed -n 's/.*"tool": "\([^"]*\)".*/\1/p' <<<"$line")
  cpu=$(sed -n 's/.*"cpu_steady_pct": \([^,]*\).*/\1/p' <<<"$line")
  rss=$(sed -n 's/.*"peak_rss_mb": \([^,]*\).*/\1/p' <<<"$line")
  echo "| $name | $cpu | $rss |"
done < "$OUT/results.jsonl"
