// Program time on the page: the feed in step with the picture.
//
// The server stamps every item that happens at a moment of the program
// (approved comment, retract, overlay change, session live/end, polls) with
// "pt": the pipeline's running time in ms. Its HLS playlist gives each
// segment an #EXT-X-PROGRAM-DATE-TIME of `pt_epoch + segment start`, and the
// server tells the page pt_epoch (welcome/stream: "stream":{"pt_epoch":…}).
// So the program time the player shows is  playhead date − pt_epoch, and an
// item is shown when the playhead reaches its pt: an HLS viewer 8 s behind
// the room no longer reads the answer before seeing the question.
//
// Items show at once when there is no video, the player is not playing, the
// viewer turned sync off, or the item carries no pt. Order is kept: an item
// never overtakes one pushed before it. Docs: docs/protocol.md, "Program time".
//
//   const clock = new PlayheadClock(videoElement);
//   clock.attachHls(hls, Hls);            // after creating the hls.js player
//   clock.setEpoch(msg.stream.pt_epoch);
//   const sync = new ProgramSync({ clock, onState });
//   sync.push(msg, (m) => handle(m));     // for each pushed item
//   sync.setEnabled(false);               // the "live" side of the switch

// Shown this long after the playhead passes the item's pt: the playhead date
// hls.js derives from fragment times can lead the frame on screen by a frame
// or two (a segment's audio may start before its first video frame).
export const SYNC_MARGIN_MS = 80;
// An item further ahead of the playhead than this means the mapping is wrong
// (e.g. the pipeline restarted and the epoch changed): show it.
export const MAX_HOLD_MS = 30_000;

export class PlayheadClock {
  constructor(video) {
    this.video = video;
    this.hls = null;
    this.epoch = null; // UTC ms of pt 0
    this.frag = null; // fallback: {pdt, start} of the fragment playing
  }

  setEpoch(ms) {
    const n = Number(ms);
    this.epoch = Number.isFinite(n) && n > 0 ? n : null;
  }

  attachHls(hls, Hls) {
    this.hls = hls;
    this.frag = null;
    if (!hls || !Hls || !Hls.Events) return;
    // Fallback when playingDate is not there: the fragment's own date and start.
    hls.on(Hls.Events.FRAG_CHANGED, (_e, data) => {
      const f = data && data.frag;
      if (f && Number.isFinite(f.programDateTime)) this.frag = { pdt: f.programDateTime, start: f.start };
    });
  }

  detach() { this.hls = null; this.frag = null; }

  // The player's playhead as UTC ms of the program, or null when unknown.
  playheadDateMs() {
    const v = this.video;
    if (!v) return null;
    if (this.hls) {
      try {
        const d = this.hls.playingDate;
        if (d instanceof Date && Number.isFinite(d.getTime())) return d.getTime();
      } catch { /* older hls.js */ }
      if (this.frag) return this.frag.pdt + (v.currentTime - this.frag.start) * 1000;
      return null;
    }
    // Native HLS (Safari): the date of media time 0 from the playlist.
    if (typeof v.getStartDate === 'function') {
      const start = v.getStartDate();
      const t = start instanceof Date ? start.getTime() : NaN;
      if (Number.isFinite(t)) return t + v.currentTime * 1000;
    }
    return null;
  }

  // Program time (ms) of the frame the player shows, or null.
  pt() {
    if (this.epoch === null) return null;
    const d = this.playheadDateMs();
    return d === null ? null : d - this.epoch;
  }

  // The picture is moving: holding items makes sense.
  playing() {
    const v = this.video;
    return !!v && !v.paused && !v.ended && v.readyState >= 2;
  }
}

export class ProgramSync {
  // onState({enabled, active, held, lagMs}) after every change, for the switch.
  constructor({ clock, onState = () => {}, enabled = true } = {}) {
    this.clock = clock;
    this.onState = onState;
    this.enabled = enabled;
    this.queue = []; // [{item, deliver, pt}] in push order
    this.delayMs = 0; // extra hold beyond the playhead (the overlay's &delay=)
    this.timer = null;
    this.lastState = '';
    this.report();
  }

  // Synced now: enabled, playing, and the playhead maps to program time.
  active() {
    return this.enabled && this.clock.playing() && this.clock.pt() !== null;
  }

  setEnabled(on) {
    this.enabled = !!on;
    if (!this.enabled) this.flush();
    this.pump();
    this.report(true);
  }

  push(item, deliver) {
    const pt = item && Number.isFinite(item.pt) ? item.pt : null;
    this.queue.push({ item, deliver, pt });
    this.pump();
  }

  // Everything held goes out now, in order.
  flush() {
    const q = this.queue;
    this.queue = [];
    for (const e of q) this.deliver(e);
    this.report();
  }

  deliver(e) {
    try { e.deliver(e.item); } catch (err) { console.error('sync: item handler failed', err); }
  }

  // Releases what is due; keeps a timer while something is held.
  pump() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.queue.length) { this.report(); return; }
    if (!this.active()) { this.flush(); return; }
    const now = this.clock.pt();
    while (this.queue.length) {
      const head = this.queue[0];
      const wait = head.pt === null ? 0 : head.pt + SYNC_MARGIN_MS + this.delayMs - now;
      if (wait > 0 && wait <= MAX_HOLD_MS + this.delayMs) break;
      this.queue.shift();
      this.deliver(head);
    }
    if (this.queue.length) {
      // Re-check often: the playhead may jump (seek, catch-up) or pause.
      const wait = this.queue[0].pt + SYNC_MARGIN_MS + this.delayMs - now;
      this.timer = setTimeout(() => this.pump(), Math.max(10, Math.min(100, wait)));
    }
    this.report();
  }

  report(force = false) {
    const active = this.active();
    const head = this.queue[0];
    const now = active ? this.clock.pt() : null;
    const s = { enabled: this.enabled, active, held: this.queue.length, lagMs: head && now !== null && head.pt !== null ? Math.max(0, head.pt - now) : 0 };
    const key = `${s.enabled}|${s.active}|${s.held}`;
    if (!force && key === this.lastState) return;
    this.lastState = key;
    try { this.onState(s); } catch { /* the page's problem */ }
  }
}

// The "in sync with video / live" switch (a <button aria-pressed>): pressed =
// in sync. `t` translates; the choice is remembered under `storageKey`.
export function bindSyncSwitch(button, sync, { t, storageGet, storageSet, storageKey = 'sabla.sync' }) {
  if (!button) return () => {};
  const render = (s = { enabled: sync.enabled, active: sync.active(), held: sync.queue.length }) => {
    button.setAttribute('aria-pressed', s.enabled ? 'true' : 'false');
    button.dataset.active = s.active ? 'true' : 'false';
    button.dataset.held = String(s.held);
    button.textContent = t(s.enabled ? 'sync_video' : 'sync_live');
    button.title = t(s.enabled ? (s.active ? 'sync_video_hint' : 'sync_idle_hint') : 'sync_live_hint');
  };
  const saved = storageGet(storageKey);
  if (saved === 'off') sync.setEnabled(false);
  button.addEventListener('click', () => {
    sync.setEnabled(!sync.enabled);
    storageSet(storageKey, sync.enabled ? null : 'off');
    render();
  });
  const previous = sync.onState;
  sync.onState = (s) => { previous(s); render(s); };
  render();
  return render;
}
