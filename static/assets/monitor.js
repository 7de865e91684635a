// The studio's program monitor: the real program picture (overlay burned in)
// as viewers get it, well under a second behind over WHEP (POST
// /api/v1/whep with the studio's cookie, docs/protocol.md "WHEP"), or over
// HLS when WHEP fails (no UDP path, the monitor is full, an old browser).
//
//   const monitor = new ProgramMonitor(videoElement, { onState });
//   monitor.update(pipelineStatus);  // from the studio's `pipeline` messages
//   monitor.stop();
//
// onState({source: 'whep'|'hls'|'none', state: 'connecting'|'playing'|'retrying'|'off', error})
// Test hooks: the video element's data-source and data-state.

const WHEP_URL = '/api/v1/whep';
const HLS_URL = '/hls/live.m3u8';
const WHEP_CONNECT_MS = 6000; // no picture over WHEP this long: HLS instead
const WHEP_RETRY_MS = 60_000; // on HLS, try WHEP again this often
const RESTART_MS = 3000;

function waitForIceGathering(pc, timeoutMs) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') { resolve(); return; }
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export class ProgramMonitor {
  constructor(video, { onState = () => {} } = {}) {
    this.video = video;
    this.onState = onState;
    this.running = false;
    this.pc = null;
    this.location = null; // the WHEP session's URL, DELETEd when done
    this.hls = null;
    this.source = 'none';
    this.state = 'off';
    this.timer = null;
    this.generation = 0; // bumps on every (re)start: late callbacks of an old attempt do nothing
    window.addEventListener('pagehide', () => this.stop());
  }

  // A `pipeline` status: start while the server has video, stop when it has none.
  update(status) {
    const on = status && typeof status === 'object' && status.state && status.state !== 'off';
    if (on && !this.running) this.start();
    else if (!on && this.running) this.stop();
  }

  start() {
    this.running = true;
    this.restart(0);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.generation += 1;
    this.teardown();
    this.set('none', 'off');
  }

  set(source, state, error = null) {
    this.source = source;
    this.state = state;
    this.video.dataset.source = source;
    this.video.dataset.state = state;
    this.video.hidden = source === 'none' || state !== 'playing';
    try { this.onState({ source, state, error }); } catch { /* the page's problem */ }
  }

  restart(delayMs, preferHls = false) {
    clearTimeout(this.timer);
    const gen = ++this.generation;
    this.timer = setTimeout(() => {
      if (!this.running || gen !== this.generation) return;
      this.teardown();
      if (preferHls) this.playHls(gen, 'whep unavailable');
      else this.playWhep(gen);
    }, delayMs);
  }

  teardown() {
    if (this.pc) { try { this.pc.close(); } catch { /* closed */ } this.pc = null; }
    if (this.location) {
      const url = this.location;
      this.location = null;
      // keepalive: the DELETE still goes out when the page is closing.
      fetch(url, { method: 'DELETE', credentials: 'same-origin', keepalive: true }).catch(() => {});
    }
    if (this.hls) { try { this.hls.destroy(); } catch { /* gone */ } this.hls = null; }
    this.video.srcObject = null;
    if (this.video.hasAttribute('src')) { this.video.removeAttribute('src'); this.video.load(); }
  }

  async playWhep(gen) {
    if (typeof RTCPeerConnection !== 'function') { this.playHls(gen, 'no WebRTC'); return; }
    this.set('whep', 'connecting');
    try {
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addEventListener('track', (ev) => {
        this.video.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
        this.video.play().catch(() => {});
      });
      pc.addEventListener('connectionstatechange', () => {
        if (gen !== this.generation) return;
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          this.set('whep', 'retrying', `WebRTC ${pc.connectionState}`);
          this.restart(RESTART_MS);
        }
      });
      await pc.setLocalDescription(await pc.createOffer());
      // No trickle ICE: the offer carries the candidates gathered in a moment.
      await waitForIceGathering(pc, 1500);
      if (gen !== this.generation) return;
      const res = await fetch(WHEP_URL, {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
      });
      if (gen !== this.generation) {
        if (res.status === 201 && res.headers.get('location')) fetch(res.headers.get('location'), { method: 'DELETE', credentials: 'same-origin' }).catch(() => {});
        return;
      }
      if (res.status !== 201) throw new Error(`WHEP ${res.status}`);
      this.location = new URL(res.headers.get('location') || '', window.location.href).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      // Playing once frames are decoded; else HLS after WHEP_CONNECT_MS.
      const t0 = Date.now();
      const poll = async () => {
        if (gen !== this.generation) return;
        let frames = 0;
        try {
          const stats = await pc.getStats();
          stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; });
        } catch { /* closed */ }
        if (gen !== this.generation) return;
        if (frames > 0) {
          if (this.state !== 'playing') this.set('whep', 'playing');
          this.video.dataset.framesDecoded = String(frames);
          setTimeout(poll, 1000);
        } else if (this.state === 'playing' || Date.now() - t0 < WHEP_CONNECT_MS) {
          setTimeout(poll, 250);
        } else {
          this.playHls(gen, 'no WebRTC picture');
        }
      };
      poll();
    } catch (err) {
      if (gen !== this.generation) return;
      this.playHls(gen, err && err.message ? err.message : String(err));
    }
  }

  async playHls(gen, why) {
    if (this.pc) { try { this.pc.close(); } catch { /* closed */ } this.pc = null; }
    if (this.location) { fetch(this.location, { method: 'DELETE', credentials: 'same-origin' }).catch(() => {}); this.location = null; }
    this.set('hls', 'connecting', why);
    const Hls = await loadHlsJs();
    if (gen !== this.generation) return;
    const video = this.video;
    video.srcObject = null;
    video.muted = true;
    const onPlaying = () => { if (gen === this.generation) this.set('hls', 'playing', why); };
    video.addEventListener('playing', onPlaying, { once: true });
    if (Hls && Hls.isSupported()) {
      const hls = new Hls({ enableWorker: false, liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 6, maxLiveSyncPlaybackRate: 1.2 });
      this.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data || !data.fatal || gen !== this.generation) return;
        this.set('hls', 'retrying', `${data.type}/${data.details}`);
        this.restart(RESTART_MS, true);
      });
      hls.loadSource(HLS_URL);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = HLS_URL;
      video.play().catch(() => {});
    } else {
      this.set('none', 'off', 'this browser plays neither WebRTC nor HLS');
      return;
    }
    // WHEP may work later (the monitor had no free place, the network changed).
    this.timer = setTimeout(() => { if (gen === this.generation && this.running) this.restart(0); }, WHEP_RETRY_MS);
  }
}

let hlsPromise = null;
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsPromise) {
    hlsPromise = new Promise((resolve) => {
      const s = document.createElement('script');
      s.src = '/vendor/hls.min.js';
      s.addEventListener('load', () => resolve(window.Hls || null));
      s.addEventListener('error', () => { hlsPromise = null; resolve(null); });
      document.head.append(s);
    });
  }
  return hlsPromise;
}
