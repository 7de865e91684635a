// Overlay page (/overlay): the on-air graphics on a transparent 1920x1080
// stage, for OBS/vMix browser sources and the studio preview. Read-only:
// subprotocol sabla.overlay.v1 sends {"type":"overlay","state":{…},"version":N}
// on connect and on every change (docs/protocol.md). The layout matches the
// C++ renderer's (docs/overlay-layout.md); geometry lives in overlay.css and
// the theme arrives as CSS custom properties on #stage.
//
// Query parameters (this page only): ?theme=default|light|dark replaces the
// theme's colours with that preset's; ?position=bottom|top|side moves the
// comment stack; ?sync=1 holds each change until the program's HLS picture
// reaches it (its "pt"; a hidden muted player follows the stream, as a viewer
// would) and &delay=MS waits that much longer, for a restream that adds its
// own delay (assets/sync.js).
//
// Test hooks: #stage, #comments [data-id] (comments on air now; one leaving
// the screen loses data-id while it fades), .comment-author, .comment-text,
// #lower-third, #ticker, #poll (overlay-poll.js); body[data-version] = last version rendered;
// window.__sablaState = last state received (as sent by the server).
import { ReconnectingSocket, wsUrl } from './ws.js';
import { el, $ } from './dom.js';
import { fillPoll } from './overlay-poll.js';
import { PlayheadClock, ProgramSync } from './sync.js';

const STAGE_W = 1920;
const STAGE_H = 1080;
const GAP = 16;

// Theme::preset in overlay/src/state.cpp.
const DEFAULT_THEME = {
  name: 'default',
  position: 'bottom',
  font_family: 'Noto Naskh Arabic, Noto Sans, Noto Color Emoji',
  font_size: 40,
  text_color: '#ffffff',
  background: '#14314dE6',
  accent: '#c9a227',
  margin_x: 96,
  margin_y: 54,
  max_lines: 3,
  logo_path: '',
  fade_ms: 300,
};
const PRESET_COLOURS = {
  default: { text_color: '#ffffff', background: '#14314dE6', accent: '#c9a227' },
  light: { text_color: '#14212e', background: '#f7f4ecF0', accent: '#8a5a00' },
  dark: { text_color: '#f2f2f2', background: '#000000D9', accent: '#4fc3f7' },
};
const POSITIONS = ['bottom', 'top', 'side'];

const params = new URLSearchParams(window.location.search);
const override = {
  preset: Object.hasOwn(PRESET_COLOURS, params.get('theme') || '') ? params.get('theme') : null,
  position: POSITIONS.includes(params.get('position')) ? params.get('position') : null,
};

const ui = {
  stage: $('#stage'),
  comments: $('#comments'),
  lowerThird: $('#lower-third'),
  ticker: $('#ticker'),
  poll: $('#poll'),
  tickerText: $('#ticker .ticker-text'),
};

const view = {
  fadeMs: DEFAULT_THEME.fade_ms,
  commentNodes: new Map(), // id -> element on air
  version: null,
};

// ---------- stage scaling ----------

// The stage is always laid out at 1920x1080 and scaled (keeping 16:9) to the window.
function fitStage() {
  const w = window.innerWidth || STAGE_W;
  const h = window.innerHeight || STAGE_H;
  const scale = Math.min(w / STAGE_W, h / STAGE_H);
  const x = (w - STAGE_W * scale) / 2;
  const y = (h - STAGE_H * scale) / 2;
  if (Math.abs(scale - 1) < 1e-6 && x === 0 && y === 0) ui.stage.style.removeProperty('transform');
  else ui.stage.style.setProperty('transform', `translate(${x}px, ${y}px) scale(${scale})`);
}
window.addEventListener('resize', fitStage);
fitStage();

// ---------- theme ----------

const COLOUR = /^#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?$/;

function intIn(value, lo, hi, fallback) {
  const n = Number(value);
  return Number.isInteger(n) && n >= lo && n <= hi ? n : fallback;
}

// The theme as drawn: server fields, bad values replaced by defaults, then the query overrides.
function effectiveTheme(raw) {
  const t = { ...DEFAULT_THEME, ...(raw && typeof raw === 'object' ? raw : {}) };
  for (const key of ['text_color', 'background', 'accent']) {
    if (typeof t[key] !== 'string' || !COLOUR.test(t[key])) t[key] = DEFAULT_THEME[key];
  }
  if (override.preset) Object.assign(t, PRESET_COLOURS[override.preset], { name: override.preset });
  if (override.position) t.position = override.position;
  if (!POSITIONS.includes(t.position)) t.position = DEFAULT_THEME.position;
  t.font_size = intIn(t.font_size, 12, 160, DEFAULT_THEME.font_size);
  t.margin_x = intIn(t.margin_x, 0, 600, DEFAULT_THEME.margin_x);
  t.margin_y = intIn(t.margin_y, 0, 400, DEFAULT_THEME.margin_y);
  t.max_lines = intIn(t.max_lines, 1, 10, DEFAULT_THEME.max_lines);
  t.fade_ms = intIn(t.fade_ms, 0, 5000, DEFAULT_THEME.fade_ms);
  return t;
}

// "Noto Naskh Arabic, Noto Sans" -> "\"Noto Naskh Arabic\", \"Noto Sans\", …fallbacks".
function cssFontList(list) {
  const names = String(list || '').split(',')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9 -]+$/.test(s))
    .map((s) => `"${s}"`);
  return [...names, '"Noto Naskh Arabic"', '"Noto Sans"', '"Noto Color Emoji"', 'sans-serif'].join(', ');
}

function applyTheme(t) {
  const s = ui.stage.style;
  ui.stage.dataset.position = t.position;
  ui.stage.dataset.theme = t.name || 'custom';
  ui.stage.dataset.logo = typeof t.logo_path === 'string' && t.logo_path !== '' ? 'on' : 'off';
  s.setProperty('--ov-text', t.text_color);
  s.setProperty('--ov-bg', t.background);
  s.setProperty('--ov-accent', t.accent);
  s.setProperty('--ov-font', cssFontList(t.font_family));
  s.setProperty('--ov-font-size', `${t.font_size}px`);
  s.setProperty('--ov-margin-x', `${t.margin_x}px`);
  s.setProperty('--ov-margin-y', `${t.margin_y}px`);
  s.setProperty('--ov-max-lines', String(t.max_lines));
  s.setProperty('--ov-fade', `${t.fade_ms}ms`);
  view.fadeMs = t.fade_ms;
}

// ---------- fades ----------

// Shows `node` with a fade (the .is-faded class is opacity 0 with a transition).
function fadeIn(node) {
  node.fadeToken = (node.fadeToken || 0) + 1;
  node.hidden = false;
  if (view.fadeMs <= 0) { node.classList.remove('is-faded'); return; }
  node.classList.add('is-faded');
  void node.offsetWidth; // commit the faded style so removing the class transitions
  node.classList.remove('is-faded');
}

// Fades `node` out, then calls done() (unless a later fadeIn took over).
function fadeOut(node, done) {
  const token = (node.fadeToken || 0) + 1;
  node.fadeToken = token;
  const finish = () => { if (node.fadeToken === token) done(); };
  if (view.fadeMs <= 0 || node.hidden) { finish(); return; }
  node.classList.add('is-faded');
  let over = false;
  const end = () => {
    if (over) return;
    over = true;
    node.removeEventListener('transitionend', onEnd);
    finish();
  };
  const onEnd = (ev) => { if (ev.target === node && ev.propertyName === 'opacity') end(); };
  node.addEventListener('transitionend', onEnd);
  setTimeout(end, view.fadeMs + 150); // transitionend does not fire in hidden tabs
}

// ---------- text, as the renderer cleans it ----------

const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

// One-line fields (author, source, lower third, ticker): line breaks and tabs become spaces.
function oneLine(value, stripBidi = false) {
  let s = typeof value === 'string' ? value : '';
  s = s.replace(/\r\n|[\r\n\u2028\u2029\t]/g, ' ');
  return stripBidi ? s.replace(BIDI_CONTROLS, '') : s;
}

// Comment text: CRLF/CR/LF/U+2028/U+2029 are line breaks, tabs spaces.
function multiLine(value) {
  const s = typeof value === 'string' ? value : '';
  return s.replace(/\r\n|[\r\u2028\u2029]/g, '\n').replace(/\t/g, ' ');
}

const RTL_STRONG = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
const RTL_WEAK = /[\u0660-\u0669\u06F0-\u06F9\u064B-\u065F\u0670]/u;

// Direction of the first strong character; none -> rtl (the renderer's rule).
function firstStrongDir(text) {
  for (const ch of text) {
    if (RTL_STRONG.test(ch)) { if (!RTL_WEAK.test(ch)) return 'rtl'; continue; }
    if (/\p{Alphabetic}/u.test(ch)) return 'ltr';
  }
  return 'rtl';
}

// ---------- comments ----------

function commentKey(c) {
  return JSON.stringify([c.author, c.text, c.dir, c.source]);
}

function fillComment(node, c) {
  const dir = c.dir === 'ltr' ? 'ltr' : 'rtl';
  const source = typeof c.source === 'string' && c.source && c.source !== 'web' ? oneLine(c.source, true) : null;
  node.dir = dir;
  node.dataset.key = commentKey(c);
  node.dataset.source = source || 'web';
  // The author line is always there (its height counts), even for an empty name.
  const head = el('div', { class: 'comment-head' },
    el('bdi', { class: 'comment-author', text: oneLine(c.author, true) }),
    source ? el('span', { class: 'comment-source', dir: 'ltr', text: `via ${source}` }) : null);
  node.replaceChildren(head, el('div', { class: 'comment-text', dir, text: multiLine(c.text) }));
}

function buildComment(c) {
  const node = el('div', { class: 'comment', dataset: { id: c.id } });
  fillComment(node, c);
  return node;
}

// A comment leaving the screen: no longer [data-id]; it keeps its place
// (absolutely positioned on the stage) while it fades, so the stack can reflow.
function leave(node) {
  let x = node.offsetLeft;
  let y = node.offsetTop;
  for (let p = node.offsetParent; p && p !== ui.stage; p = p.offsetParent) { x += p.offsetLeft; y += p.offsetTop; }
  const width = node.offsetWidth;
  delete node.dataset.id;
  node.dataset.leaving = 'true';
  node.setAttribute('aria-hidden', 'true');
  if (view.fadeMs <= 0) { node.remove(); return; }
  node.classList.add('is-leaving');
  node.style.setProperty('left', `${x}px`);
  node.style.setProperty('top', `${y}px`);
  node.style.setProperty('width', `${width}px`);
  ui.stage.prepend(node); // under what is on screen now
  void node.offsetWidth; // a moved node has no previous style: commit opacity 1 first
  fadeOut(node, () => node.remove());
}

function renderComments(list) {
  const wanted = list.filter((c) => c && (typeof c.id === 'number' || typeof c.id === 'string'));
  const ids = new Set(wanted.map((c) => String(c.id)));
  for (const [id, node] of view.commentNodes) {
    if (!ids.has(id)) { view.commentNodes.delete(id); leave(node); }
  }
  const fresh = [];
  const order = wanted.map((c) => {
    const id = String(c.id);
    let node = view.commentNodes.get(id);
    if (!node) {
      node = buildComment(c);
      view.commentNodes.set(id, node);
      fresh.push(node);
    } else if (node.dataset.key !== commentKey(c)) {
      fillComment(node, c); // edited while on air
    }
    return node;
  });
  // Stack order: first = top. Move only what is out of place.
  order.forEach((node, i) => {
    const at = ui.comments.children[i];
    if (at !== node) ui.comments.insertBefore(node, at || null);
  });
  for (const node of fresh) fadeIn(node);
}

// When the stack is taller than its room, the oldest (first) comments are not
// drawn; the last one always is.
function fitStack() {
  const nodes = [...view.commentNodes.values()];
  for (const n of nodes) n.classList.remove('is-dropped');
  if (nodes.length < 2) return;
  const area = ui.comments.parentElement; // .content-area: from MY to CB
  let room = area.clientHeight;
  const lt = ui.lowerThird;
  if (!lt.hidden) room -= lt.offsetHeight + GAP; // BL is above the lower third, whatever the position
  // A poll takes its height from the stack's room, except at the side (it is on the left).
  if (!ui.poll.hidden && ui.poll.dataset.on === 'true' && ui.stage.dataset.position !== 'side') room -= ui.poll.offsetHeight + GAP;
  const heights = nodes.map((n) => n.offsetHeight);
  let total = heights.reduce((a, b) => a + b, 0) + GAP * (nodes.length - 1);
  for (let i = 0; i + 1 < nodes.length && total > room + 0.5; i++) {
    total -= heights[i] + GAP;
    nodes[i].classList.add('is-dropped');
  }
}

// ---------- lower third and ticker ----------

// Empty fields are skipped (as the renderer does: no trimming).
function fillBlock(block, name, title, session) {
  const parts = [['.lt-name', name], ['.lt-title', title], ['.lt-session', session]];
  let any = false;
  for (const [sel, value] of parts) {
    const node = block.querySelector(sel);
    const text = oneLine(value);
    node.textContent = text;
    node.hidden = !text;
    any = any || !!text;
  }
  block.hidden = !any;
  return any;
}

function renderLowerThird(lt) {
  const node = ui.lowerThird;
  const has = !!lt && typeof lt === 'object' && [lt.name_ar, lt.name_en, lt.title_ar, lt.title_en, lt.session_ar, lt.session_en]
    .some((v) => typeof v === 'string' && v !== '');
  if (!has) {
    if (!node.hidden && node.dataset.on === 'true') {
      node.dataset.on = 'false';
      fadeOut(node, () => { node.hidden = true; });
    }
    return;
  }
  const arabic = fillBlock(node.querySelector('.lt-ar'), lt.name_ar, lt.title_ar, lt.session_ar);
  fillBlock(node.querySelector('.lt-en'), lt.name_en, lt.title_en, lt.session_en);
  node.dataset.side = arabic ? 'right' : 'left';
  if (node.dataset.on !== 'true') { node.dataset.on = 'true'; fadeIn(node); }
}

function renderTicker(text) {
  const node = ui.ticker;
  const has = typeof text === 'string';
  if (!has) {
    if (!node.hidden && node.dataset.on === 'true') {
      node.dataset.on = 'false';
      fadeOut(node, () => { node.hidden = true; });
    }
    return;
  }
  const line = oneLine(text);
  ui.tickerText.textContent = line;
  ui.tickerText.dir = firstStrongDir(line);
  if (node.dataset.on !== 'true') { node.dataset.on = 'true'; fadeIn(node); }
}

// ---------- poll ----------

function renderPoll(poll) {
  const node = ui.poll;
  if (!fillPoll(node, poll)) {
    if (!node.hidden && node.dataset.on === 'true') {
      node.dataset.on = 'false';
      delete node.dataset.id;
      fadeOut(node, () => { node.hidden = true; });
    }
    return;
  }
  if (node.dataset.on !== 'true') { node.dataset.on = 'true'; fadeIn(node); }
}

// ---------- messages ----------

function render(state, version) {
  const s = state && typeof state === 'object' ? state : {};
  applyTheme(effectiveTheme(s.theme));
  ui.stage.dataset.ticker = typeof s.ticker === 'string' ? 'on' : 'off';
  renderComments(Array.isArray(s.comments) ? s.comments : []);
  renderLowerThird(s.lower_third);
  renderTicker(s.ticker);
  renderPoll(s.poll);
  fitStack();
  view.version = version;
  document.body.dataset.version = String(version);
}

function onMessage(msg) {
  if (msg.type === 'stream') { followStream(msg); return; }
  if (msg.type !== 'overlay' || !msg.state || typeof msg.state !== 'object') return;
  if (programSync) { programSync.push(msg, applyOverlay); return; }
  applyOverlay(msg);
}

function applyOverlay(msg) {
  window.__sablaState = msg.state;
  render(msg.state, Number.isFinite(Number(msg.version)) ? Number(msg.version) : 0);
}

const socket = new ReconnectingSocket({
  url: wsUrl('/ws'),
  protocol: 'sabla.overlay.v1',
  onMessage,
  // What is on screen stays on screen while the connection is down.
  onState(s) { ui.stage.dataset.conn = s; },
});

// ---------- program time (?sync=1) ----------
// A hidden, muted hls.js player follows the public stream; overlay changes
// wait until its playhead reaches their pt (+ delay).

const syncDelayMs = Math.max(0, Math.min(60_000, Number(params.get('delay')) || 0));
const syncPlayer = { video: null, hls: null, src: null, retry: null };
const programSync = params.get('sync') === '1' ? new ProgramSync({
  clock: new PlayheadClock(null),
  onState(s) { document.body.dataset.sync = s.active ? 'active' : 'idle'; document.body.dataset.held = String(s.held); },
}) : null;
if (programSync) programSync.delayMs = syncDelayMs;

function followStream(msg) {
  if (!programSync) return;
  programSync.clock.setEpoch(msg.pt_epoch);
  const src = typeof msg.hls === 'string' && msg.hls ? new URL(msg.hls, window.location.href).href : null;
  if (src && src !== syncPlayer.src) startSyncPlayer(src);
  programSync.pump();
}

function startSyncPlayer(src) {
  syncPlayer.src = src;
  if (!syncPlayer.video) {
    const v = document.createElement('video');
    v.muted = true;
    v.playsInline = true;
    v.className = 'sync-player';
    v.setAttribute('aria-hidden', 'true');
    document.body.append(v);
    for (const ev of ['playing', 'pause', 'ended', 'emptied']) v.addEventListener(ev, () => programSync.pump());
    syncPlayer.video = v;
    programSync.clock.video = v;
  }
  const go = () => {
    const Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) return;
    if (syncPlayer.hls) syncPlayer.hls.destroy();
    const hls = new Hls({ enableWorker: false, liveSyncDurationCount: 3, liveMaxLatencyDurationCount: 8, maxLiveSyncPlaybackRate: 1.1 });
    syncPlayer.hls = hls;
    programSync.clock.attachHls(hls, Hls);
    hls.on(Hls.Events.MANIFEST_PARSED, () => { syncPlayer.video.play().catch(() => {}); });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data || !data.fatal) return;
      clearTimeout(syncPlayer.retry);
      syncPlayer.retry = setTimeout(go, 3000); // the playlist is not there yet, or the stream restarted
    });
    hls.loadSource(src);
    hls.attachMedia(syncPlayer.video);
  };
  if (window.Hls) { go(); return; }
  const script = document.createElement('script');
  script.src = '/vendor/hls.min.js';
  script.addEventListener('load', go);
  document.head.append(script);
}

applyTheme(effectiveTheme(null));
socket.start();
// Web fonts change the boxes' heights once loaded.
if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitStack, () => {});
