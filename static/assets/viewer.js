// Viewer page: the live video (HLS through hls.js, or the browser's own HLS),
// live feed of approved comments, the comment box and upvotes.
// Protocol: docs/protocol.md, subprotocol sabla.viewer.v1.
import { t, tn, onLangChange, fmtTime, fmtNumber, sessionTitle, storageGet, storageSet } from './i18n.js';
import { ReconnectingSocket, wsUrl } from './ws.js';
import { el, $, dirOf, codePointLength, newClientId } from './dom.js';
import { PlayheadClock, ProgramSync, bindSyncSwitch } from './sync.js';
import { initShell } from './shell.js';
import { ViewerPolls, outcomeNode } from './viewer-polls.js';

initShell(); // the header (with #conn) first: `ui` below looks it up

const KEY = {
  token: 'sabla.viewer.token',
  name: 'sabla.viewer.name',
  outbox: 'sabla.viewer.outbox',
  voted: 'sabla.viewer.voted',
  mine: 'sabla.viewer.mine',
};
const FEED_LIMIT = 200;
const VOTED_LIMIT = 500;
const MINE_LIMIT = 20; // the viewer's own latest comments shown with their state
const MINE_STATES = ['sending', 'pending', 'approved', 'rejected'];

const ui = {
  conn: $('#conn'),
  video: $('#video'),
  player: $('#player'),
  videoMessage: $('#video-message'),
  viewers: $('#viewer-count'),
  unmute: $('#unmute'),
  badge: $('#live-badge'),
  title: $('#session-title'),
  form: $('#compose'),
  name: $('#display-name'),
  text: $('#comment-text'),
  count: $('#char-count'),
  send: $('#send'),
  status: $('#compose-status'),
  notice: $('#notice'),
  feed: $('#feed'),
  feedEmpty: $('#feed-empty'),
  syncToggle: $('#sync-toggle'),
  minePanel: $('#mine-panel'),
  mine: $('#mine'),
};

const state = {
  session: null,
  settings: { max_length: 500, slow_mode_seconds: 0 },
  comments: new Map(), // id -> comment
  nodes: new Map(), // id -> <li>
  outbox: loadOutbox(), // [{client_id, text}] not yet acknowledged
  voted: loadVoted(),
  // The viewer's own comments, newest last: {client_id, id, text, status, session}.
  mine: loadMine(),
  onScreen: new Set(), // comment ids on the overlay now
  ready: false, // identity settled after (re)connect: safe to send comments
  helloToken: null,
  welcomes: 0,
  readyTimer: null,
  conn: { state: 'connecting', retryAt: 0 },
  cooldownUntil: 0,
  cooldownCode: null,
  status: null, // {kind, key, vars, code}
  notice: null, // {key, vars, code}
  lastVoteId: null,
};

// ---------- persistence ----------

function loadOutbox() {
  try {
    const v = JSON.parse(storageGet(KEY.outbox) || '[]');
    return Array.isArray(v) ? v.filter((x) => x && typeof x.client_id === 'string' && typeof x.text === 'string') : [];
  } catch { return []; }
}
function saveOutbox() {
  storageSet(KEY.outbox, state.outbox.length ? JSON.stringify(state.outbox) : null);
}
function loadVoted() {
  try {
    const v = JSON.parse(storageGet(KEY.voted) || '[]');
    return new Set(Array.isArray(v) ? v : []);
  } catch { return new Set(); }
}
function loadMine() {
  try {
    const v = JSON.parse(storageGet(KEY.mine) || '[]');
    return Array.isArray(v)
      ? v.filter((x) => x && typeof x.client_id === 'string' && typeof x.text === 'string' && MINE_STATES.includes(x.status)).slice(-MINE_LIMIT)
      : [];
  } catch { return []; }
}
function saveMine() {
  state.mine = state.mine.slice(-MINE_LIMIT);
  storageSet(KEY.mine, state.mine.length ? JSON.stringify(state.mine) : null);
}
function markVoted(id) {
  state.voted.add(id);
  const list = Array.from(state.voted).slice(-VOTED_LIMIT);
  storageSet(KEY.voted, JSON.stringify(list));
}

// ---------- connection ----------

const socket = new ReconnectingSocket({
  url: wsUrl('/ws'),
  protocol: 'sabla.viewer.v1',
  onOpen,
  onMessage,
  onState(s, info) {
    state.conn = { state: s, retryAt: info.retryAt || 0 };
    if (s !== 'open') setReady(false);
    renderConn();
    renderCompose();
  },
});
const polls = new ViewerPolls($('#polls-panel'), (m) => socket.send(m));
// Management's response to the viewer's own comments (id -> outcome), shown beside them.
const outcomes = new Map();
function setOutcome(msg) {
  if (Number.isInteger(msg.id) && msg.outcome && typeof msg.outcome === 'object') outcomes.set(msg.id, msg.outcome);
}

function onOpen() {
  state.welcomes = 0;
  state.helloToken = null;
  const token = storageGet(KEY.token);
  const name = storageGet(KEY.name) || '';
  if (token || name) {
    const hello = { type: 'hello' };
    if (token) hello.token = token;
    if (name) hello.name = name;
    state.helloToken = token || '';
    socket.send(hello);
  }
}

function setReady(ready) {
  clearTimeout(state.readyTimer);
  state.ready = ready;
  renderConn();
  if (ready) flushOutbox();
}

function flushOutbox() {
  for (const item of state.outbox) socket.send({ type: 'comment', client_id: item.client_id, text: item.text });
  if (state.outbox.length) showStatus('info', 'sending');
}

// Pushed items that happen at a moment of the program wait for the player to
// reach it (sync.js); replies to this viewer and counters never wait.
const SYNCED_TYPES = new Set(['comment', 'retract', 'votes', 'session', 'overlay']);

function onMessage(msg) {
  if (SYNCED_TYPES.has(msg.type)) { sync.push(msg, handleMessage); return; }
  handleMessage(msg);
}

function handleMessage(msg) {
  switch (msg.type) {
    case 'welcome': onWelcome(msg); break;
    case 'comment': if (msg.comment) upsertComment(msg.comment); break;
    case 'retract': removeComment(msg.id, { retracted: true }); break;
    case 'votes': onVotes(msg); break;
    case 'session': setSession(msg.session || null); break;
    case 'ack': onAck(msg); break;
    case 'error': onError(msg); break;
    case 'stream': onStream(msg); break;
    case 'viewers': setViewers(msg.count); break;
    case 'overlay': onOverlay(msg); break;
    case 'mine': setMineStatus(msg.id, msg.status); break;
    case 'poll': polls.update(msg.poll); break;
    case 'voted': polls.voted(msg); break;
    case 'outcome': setOutcome(msg); renderMine(); break;
    default: break;
  }
}

function onWelcome(msg) {
  state.welcomes += 1;
  if (typeof msg.token === 'string' && msg.token) storageSet(KEY.token, msg.token);
  if (msg.settings && typeof msg.settings === 'object') state.settings = { ...state.settings, ...msg.settings };
  if ('session' in msg) setSession(msg.session || null);
  if ('overlay' in msg) onOverlay(msg.overlay);
  if ('stream' in msg) setStream(msg.stream);
  if ('viewers' in msg) setViewers(msg.viewers);
  if (Array.isArray(msg.feed)) replaceFeed(msg.feed);
  if (Array.isArray(msg.polls)) polls.setAll(msg.polls);
  if (Array.isArray(msg.outcomes)) { for (const o of msg.outcomes) setOutcome(o); renderMine(); }

  // On connect the server greets a fresh viewer; our hello (sent on open)
  // brings a second welcome with our own identity. Comments wait for it so
  // they are attributed (and de-duplicated) under the right viewer.
  const settled = state.helloToken === null
    || (state.helloToken && msg.token === state.helloToken)
    || state.welcomes >= 2;
  if (settled) {
    if (typeof msg.name === 'string' && msg.name && document.activeElement !== ui.name) ui.name.value = msg.name;
    if (!state.ready) setReady(true);
  } else if (!state.ready) {
    clearTimeout(state.readyTimer);
    state.readyTimer = setTimeout(() => { if (socket.isOpen) setReady(true); }, 2000);
  }
  renderCompose();
}

function onAck(msg) {
  const idx = state.outbox.findIndex((x) => x.client_id === msg.client_id);
  if (idx >= 0) { state.outbox.splice(idx, 1); saveOutbox(); }
  const mine = state.mine.find((x) => x.client_id === msg.client_id);
  if (mine) {
    mine.id = Number.isInteger(msg.id) ? msg.id : mine.id;
    // The comment may already be published (its push can beat the ack).
    if (mine.status === 'sending' || mine.status === 'pending') {
      mine.status = MINE_STATES.includes(msg.status) ? msg.status : 'pending';
    }
    if (mine.id !== null && state.comments.has(mine.id)) mine.status = 'approved';
    saveMine();
    renderMine();
  }
  const key = msg.status === 'pending' ? 'ack_pending'
    : msg.status === 'approved' ? 'ack_approved'
      : msg.status === 'rejected' ? 'ack_rejected' : 'ack_other';
  showStatus(msg.status === 'rejected' ? 'error' : `ack-${msg.status || 'other'}`, key);
}

const COMMENT_ERRORS = ['rate_limited', 'too_long', 'empty', 'banned', 'slow_mode', 'invalid', 'no_session', 'not_found'];

function onError(msg) {
  const code = String(msg.code || 'unknown');
  if (msg.client_id) {
    const idx = state.outbox.findIndex((x) => x.client_id === msg.client_id);
    let text = null;
    if (idx >= 0) { text = state.outbox[idx].text; state.outbox.splice(idx, 1); saveOutbox(); }
    // Refused before it was stored: it is not "yours" on the server at all.
    const before = state.mine.length;
    state.mine = state.mine.filter((x) => x.client_id !== msg.client_id);
    if (state.mine.length !== before) { saveMine(); renderMine(); }
    // Give the text back so the viewer can fix it or send it again later.
    if (text && !ui.text.value) { ui.text.value = text; renderCompose(); }
    const wait = Number(msg.retry_after_ms);
    if ((code === 'slow_mode' || code === 'rate_limited') && wait > 0) {
      state.cooldownUntil = Date.now() + wait;
      state.cooldownCode = code;
      state.status = { kind: 'error', code, cooldown: true };
      renderStatus();
      renderCompose();
      return;
    }
    showStatus('error', COMMENT_ERRORS.includes(code) ? `err_${code}` : 'err_unknown', { code }, code);
    return;
  }
  // A refused poll ballot is shown on its poll.
  if (polls.error(code)) return;
  // Errors without client_id answer votes or hello.
  const id = msg.id ?? state.lastVoteId;
  if (code === 'conflict') {
    if (id !== null && id !== undefined) { markVoted(id); renderVote(id); }
    showNotice('err_vote_conflict', {}, code);
  } else if (code === 'rate_limited') {
    showNotice('err_rate_limited_plain', {}, code);
  } else if (code === 'not_found') {
    showNotice('err_not_found', {}, code);
  } else if (code === 'impersonation') {
    // The server kept the previous name; do not send the refused one again on reconnect.
    storageSet(KEY.name, null);
    showNotice('err_impersonation', {}, code);
  } else {
    showNotice(COMMENT_ERRORS.includes(code) ? `err_${code}` : 'err_unknown', { code }, code);
  }
}

// ---------- session ----------

function setSession(session) {
  state.session = session;
  // Comments of another session are no longer the viewer's business here.
  const id = session && session.id;
  const kept = state.mine.filter((x) => x.session === undefined || x.session === null || x.session === id);
  if (kept.length !== state.mine.length) { state.mine = kept; saveMine(); }
  renderSession();
  renderMine();
}

function renderSession() {
  const s = state.session;
  renderBadge();
  const title = s ? sessionTitle(s) : '';
  ui.title.textContent = title || t('no_session');
  document.title = title ? `${title} — ${t('app_name')}` : t('app_name');
}

// ---------- video ----------
// The server announces the stream in `welcome` ({"stream":{"hls","live"}}) and
// pushes {"type":"stream","live"} when the source goes live or the slate comes
// on. Without a stream (a server without video) the badge follows the session,
// as before. The player retries with capped backoff when the playlist is not
// there yet (404) or playback fails, and restarts when the picture freezes.

const VIDEO = {
  retryMinMs: 1000,
  retryMaxMs: 15000,
  stallMs: 15000, // no progress while playing: start over
  loadingMs: 30000, // no picture this long after starting: start over
};

// Program time at the playhead, and the queue that holds pushed items until
// the picture reaches them (static/assets/sync.js).
const clock = new PlayheadClock(ui.player);
const sync = new ProgramSync({ clock });

const player = {
  known: false, // the server told us about a stream (video on)
  src: null, // playlist URL
  live: false, // stream.live: the source is on air (not the slate)
  engine: null, // 'hls.js' | 'native' | null
  hls: null,
  state: 'none', // none | loading | playing | waiting | paused | retrying | unsupported
  since: 0, // when `state` was entered
  attempt: 0,
  retryTimer: null,
  retryAt: 0,
  recovered: false, // one hls.recoverMediaError() per start
  lastTime: 0,
  lastProgressAt: 0,
  viewers: null,
};

function hlsLib() {
  const Hls = window.Hls;
  return Hls && typeof Hls.isSupported === 'function' && Hls.isSupported() ? Hls : null;
}

function setStream(stream) {
  if (stream && typeof stream === 'object' && 'pt_epoch' in stream) clock.setEpoch(stream.pt_epoch);
  const src = stream && typeof stream === 'object' && typeof stream.hls === 'string' && stream.hls ? stream.hls : null;
  if (!src) {
    player.known = false;
    player.live = false;
    player.src = null;
    stopPlayer();
    setPlayback('none');
    return;
  }
  player.known = true;
  player.live = !!stream.live;
  const url = new URL(src, window.location.href).href;
  if (url !== player.src || player.state === 'none') {
    player.src = url;
    player.attempt = 0;
    startPlayer();
  }
  renderBadge();
}

function onStream(msg) {
  if ('pt_epoch' in msg) { clock.setEpoch(msg.pt_epoch); sync.pump(); }
  if (typeof msg.hls === 'string' && msg.hls) { setStream({ hls: msg.hls, live: msg.live }); return; }
  if (!player.known) return;
  player.live = !!msg.live;
  renderBadge();
}

function setViewers(count) {
  const n = Number(count);
  player.viewers = Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
  renderViewers();
}

function setPlayback(s) {
  if (player.state !== s) { player.state = s; player.since = Date.now(); }
  ui.video.dataset.playback = s;
  // Native controls (and their spinner) only once there is something to control.
  ui.player.controls = ['playing', 'waiting', 'paused'].includes(s);
  renderBadge();
  renderVideoMessage();
  renderUnmute();
}

function stopPlayer() {
  clearTimeout(player.retryTimer);
  player.retryTimer = null;
  if (player.hls) {
    const hls = player.hls;
    player.hls = null;
    try { hls.destroy(); } catch { /* already gone */ }
  }
  if (ui.player.hasAttribute('src')) {
    ui.player.removeAttribute('src');
    try { ui.player.load(); } catch { /* nothing loaded */ }
  }
  player.engine = null;
  clock.detach();
  delete ui.video.dataset.engine;
  delete ui.video.dataset.manifest;
}

function startPlayer() {
  stopPlayer();
  if (!player.src) { setPlayback('none'); return; }
  const video = ui.player;
  const Hls = hlsLib();
  player.recovered = false;
  player.lastTime = 0;
  player.lastProgressAt = Date.now();
  if (Hls) {
    player.engine = 'hls.js';
    const hls = new Hls({
      // The page CSP allows scripts from 'self' only, so no blob: worker:
      // hls.js transmuxes on the main thread.
      enableWorker: false,
      lowLatencyMode: false,
      liveSyncDurationCount: 3, // start 3 segments behind the live edge
      liveMaxLatencyDurationCount: 8, // jump forward when this far behind
      maxLiveSyncPlaybackRate: 1.1, // or catch up gently
      backBufferLength: 30,
    });
    player.hls = hls;
    clock.attachHls(hls, Hls);
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (player.hls !== hls) return;
      ui.video.dataset.manifest = 'parsed';
      tryPlay();
    });
    hls.on(Hls.Events.ERROR, (event, data) => {
      if (player.hls !== hls || !data || !data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !player.recovered) {
        player.recovered = true;
        hls.recoverMediaError();
        return;
      }
      scheduleRetry(`${data.type}/${data.details}${data.response && data.response.code ? ` ${data.response.code}` : ''}`);
    });
    hls.loadSource(player.src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    player.engine = 'native';
    video.src = player.src;
    video.load();
    tryPlay();
  } else {
    setPlayback('unsupported');
    return;
  }
  ui.video.dataset.engine = player.engine;
  setPlayback('loading');
}

function tryPlay() {
  let p;
  try { p = ui.player.play(); } catch { p = null; }
  if (p && typeof p.catch === 'function') {
    p.catch((err) => {
      // Autoplay refused (it should not be, muted): wait for the viewer's play.
      if (err && err.name === 'NotAllowedError' && player.engine) setPlayback('paused');
    });
  }
}

function scheduleRetry(reason) {
  stopPlayer();
  if (!player.src) { setPlayback('none'); return; }
  const cap = Math.min(VIDEO.retryMaxMs, VIDEO.retryMinMs * 2 ** player.attempt);
  const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
  player.attempt = Math.min(player.attempt + 1, 10);
  player.retryAt = Date.now() + delay;
  ui.video.dataset.lastError = String(reason || 'error');
  setPlayback('retrying');
  player.retryTimer = setTimeout(() => { player.retryTimer = null; startPlayer(); }, delay);
}

ui.player.addEventListener('playing', () => {
  if (!player.engine) return;
  player.attempt = 0;
  player.recovered = false;
  player.lastProgressAt = Date.now();
  setPlayback('playing');
});
ui.player.addEventListener('waiting', () => { if (player.state === 'playing') setPlayback('waiting'); });
ui.player.addEventListener('pause', () => { if (player.engine && ['playing', 'waiting'].includes(player.state)) setPlayback('paused'); });
ui.player.addEventListener('timeupdate', () => {
  const now = ui.player.currentTime;
  if (now !== player.lastTime) { player.lastTime = now; player.lastProgressAt = Date.now(); }
  if (player.engine && !ui.player.paused && player.state !== 'playing' && ui.player.readyState >= 3) setPlayback('playing');
});
ui.player.addEventListener('loadedmetadata', () => { if (player.engine === 'native') ui.video.dataset.manifest = 'parsed'; });
ui.player.addEventListener('error', () => {
  if (!player.engine || !ui.player.error) return;
  if (player.engine === 'hls.js' && player.hls && !player.recovered) {
    player.recovered = true;
    try { player.hls.recoverMediaError(); return; } catch { /* start over */ }
  }
  scheduleRetry(`media/${ui.player.error.code}`);
});
ui.player.addEventListener('volumechange', renderUnmute);
// Held items go out at once when the picture stops, and wait again when it moves.
for (const ev of ['playing', 'pause', 'ended', 'emptied', 'seeked']) ui.player.addEventListener(ev, () => sync.pump());

ui.unmute.addEventListener('click', () => {
  ui.player.muted = false;
  if (!ui.player.volume) ui.player.volume = 1;
  if (ui.player.paused && player.engine) tryPlay();
  renderUnmute();
});

// Called every 500 ms: a frozen picture or a start that never comes means start over.
function watchPlayback() {
  const now = Date.now();
  if (player.state === 'retrying') { renderVideoMessage(); return; }
  if (!player.engine) return;
  if ((player.state === 'playing' || player.state === 'waiting') && !ui.player.paused
      && now - player.lastProgressAt > VIDEO.stallMs) {
    scheduleRetry('stalled');
  } else if (player.state === 'loading' && now - player.since > VIDEO.loadingMs) {
    scheduleRetry('timeout');
  }
}

function renderBadge() {
  let live;
  if (player.known) {
    live = player.live && !['retrying', 'unsupported', 'none'].includes(player.state);
  } else {
    live = !!state.session && state.session.status === 'live';
  }
  ui.video.dataset.status = live ? 'live' : 'offline';
  ui.badge.dataset.status = live ? 'live' : 'offline';
  ui.badge.textContent = t(live ? 'status_live' : 'status_offline');
}

function renderVideoMessage() {
  const s = player.state;
  let text = null;
  if (s === 'none') text = t('video_placeholder');
  else if (s === 'loading') text = t('video_loading');
  else if (s === 'unsupported') text = t('video_unsupported');
  else if (s === 'retrying') text = t('video_retry', { s: fmtNumber(Math.max(1, Math.ceil((player.retryAt - Date.now()) / 1000))) });
  ui.videoMessage.hidden = text === null;
  if (text !== null) ui.videoMessage.textContent = text;
}

function renderViewers() {
  const n = player.viewers;
  ui.viewers.hidden = n === null;
  if (n === null) return;
  ui.viewers.dataset.count = String(n);
  ui.viewers.textContent = tn('viewers_watching', n);
}

function renderUnmute() {
  ui.unmute.hidden = !(player.engine && ui.player.muted && ['playing', 'waiting', 'paused'].includes(player.state));
}

// ---------- feed ----------

function replaceFeed(list) {
  state.comments.clear();
  state.nodes.clear();
  ui.feed.replaceChildren();
  for (const c of list) upsertComment(c, { quiet: true });
  renderFeedEmpty();
}

function upsertComment(c, { quiet = false } = {}) {
  if (!c || c.id === undefined || c.id === null) return;
  if (c.status && c.status !== 'approved') { removeComment(c.id); return; }
  state.comments.set(c.id, c);
  setMineStatus(c.id, 'approved');
  const old = state.nodes.get(c.id);
  const node = renderComment(c);
  state.nodes.set(c.id, node);
  if (old) {
    old.replaceWith(node);
  } else {
    // Newest on top: keep the list ordered by id, descending.
    let before = null;
    for (const child of ui.feed.children) {
      if (Number(child.dataset.id) < Number(c.id)) { before = child; break; }
    }
    ui.feed.insertBefore(node, before);
    if (!quiet) node.classList.add('is-new');
    trimFeed();
  }
  renderFeedEmpty();
}

function trimFeed() {
  while (ui.feed.children.length > FEED_LIMIT) {
    const last = ui.feed.lastElementChild;
    state.comments.delete(Number(last.dataset.id));
    state.nodes.delete(Number(last.dataset.id));
    last.remove();
  }
}

function removeComment(id, { retracted = false } = {}) {
  if (retracted) setMineStatus(id, 'rejected'); // hidden after publishing: no longer published
  const node = state.nodes.get(id);
  if (node) node.remove();
  state.nodes.delete(id);
  state.comments.delete(id);
  renderFeedEmpty();
}

function onVotes(msg) {
  const c = state.comments.get(msg.id);
  if (!c) return;
  c.votes = msg.votes;
  renderVote(msg.id);
}

function renderFeedEmpty() {
  ui.feedEmpty.hidden = ui.feed.children.length > 0;
}

function renderComment(c) {
  const dir = dirOf(c.dir);
  const name = typeof c.name === 'string' && c.name ? c.name : null;
  const time = el('time', { class: 'comment-time', dir: 'auto', datetime: Number.isFinite(c.at) ? new Date(c.at).toISOString() : null, text: fmtTime(c.at) });
  const vote = el('button', { class: 'vote', type: 'button', dataset: { action: 'vote' } },
    el('span', { class: 'vote-icon', 'aria-hidden': 'true', text: '▲' }),
    el('span', { class: 'vote-count' }));
  // The card follows the page's direction so the vote button is on the same
  // side of every card; only the text takes the comment's own direction.
  const li = el('li', { class: 'comment', dataset: { id: c.id }, lang: c.lang || null },
    el('div', { class: 'comment-meta' },
      el('bdi', { class: name ? 'comment-name' : 'comment-name is-anon', text: name || t('anonymous') }),
      time),
    el('p', { class: 'comment-text', dir, text: c.text || '' }),
    el('div', { class: 'comment-actions' }, vote));
  fillVote(li, c);
  return li;
}

function fillVote(li, c) {
  const btn = li.querySelector('[data-action=vote]');
  const n = Number(c.votes) || 0;
  const voted = state.voted.has(c.id);
  btn.querySelector('.vote-count').textContent = fmtNumber(n);
  btn.setAttribute('aria-label', t('vote_aria', { n: fmtNumber(n) }));
  btn.setAttribute('aria-pressed', voted ? 'true' : 'false');
  btn.disabled = voted;
}

function renderVote(id) {
  const li = state.nodes.get(id);
  const c = state.comments.get(id);
  if (li && c) fillVote(li, c);
}

ui.feed.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-action=vote]');
  if (!btn) return;
  const li = btn.closest('[data-id]');
  const id = Number(li.dataset.id);
  if (state.voted.has(id)) return;
  if (!socket.send({ type: 'vote', id })) { showNotice('queued_offline'); return; }
  state.lastVoteId = id;
  markVoted(id);
  renderVote(id);
});

// ---------- compose ----------

function maxLength() {
  const n = Number(state.settings.max_length);
  return Number.isFinite(n) && n > 0 ? n : 500;
}

function cooldownLeft() { return Math.max(0, state.cooldownUntil - Date.now()); }

function renderCompose() {
  const n = codePointLength(ui.text.value);
  const max = maxLength();
  ui.count.textContent = t('counter', { n: fmtNumber(n), max: fmtNumber(max) });
  ui.count.dataset.over = n > max ? 'true' : 'false';
  ui.count.dataset.near = n > max * 0.9 ? 'true' : 'false';
  ui.text.setAttribute('aria-invalid', n > max ? 'true' : 'false');
  ui.send.disabled = n > max || cooldownLeft() > 0;
}

function submit() {
  const text = ui.text.value;
  if (!text.trim()) { showStatus('error', 'err_empty', {}, 'empty'); ui.text.focus(); return; }
  if (codePointLength(text.trim()) > maxLength()) { showStatus('error', 'err_too_long', { max: maxLength() }, 'too_long'); return; }
  if (cooldownLeft() > 0) return;
  const item = { client_id: newClientId(), text };
  state.outbox.push(item);
  saveOutbox();
  state.mine.push({ client_id: item.client_id, id: null, text, status: 'sending', session: state.session ? state.session.id : null });
  saveMine();
  renderMine();
  ui.text.value = '';
  renderCompose();
  if (state.ready && socket.send({ type: 'comment', client_id: item.client_id, text: item.text })) {
    showStatus('info', 'sending');
  } else {
    showStatus('info', 'queued_offline');
  }
}

ui.form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
ui.text.addEventListener('input', renderCompose);
// Enter sends (as in every chat box); Shift+Enter adds a line. Not while an
// input method is composing (Enter then confirms the composition).
ui.text.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' || ev.isComposing || ev.keyCode === 229 || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  submit();
});

ui.name.value = storageGet(KEY.name) || '';
ui.name.addEventListener('change', () => {
  const name = ui.name.value.trim();
  storageSet(KEY.name, name || null);
  const token = storageGet(KEY.token);
  if (state.ready) {
    const hello = { type: 'hello', name };
    if (token) hello.token = token;
    socket.send(hello);
  }
});

// ---------- the viewer's own comments ----------

function setMineStatus(id, status) {
  if (!MINE_STATES.includes(status)) return;
  const mine = state.mine.find((x) => x.id === id);
  if (!mine || mine.status === status) return;
  mine.status = status;
  saveMine();
  renderMine();
}

function onOverlay(msg) {
  const s = msg && typeof msg.state === 'object' && msg.state ? msg.state : null;
  const list = s && Array.isArray(s.comments) ? s.comments : [];
  state.onScreen = new Set(list.map((c) => Number(c.id)));
  renderMine();
}

// A state for each: sending, waiting for review, published, on air now, not published.
function mineState(m) {
  if (m.status === 'approved' && m.id !== null && state.onScreen.has(m.id)) return 'on_air';
  return m.status;
}

function renderMine() {
  const list = state.mine.slice().reverse();
  ui.minePanel.hidden = list.length === 0;
  ui.mine.replaceChildren(...list.map((m) => {
    const st = mineState(m);
    return el('li', { class: 'mine-item', dataset: { id: m.id ?? '', clientId: m.client_id, state: st } },
      el('span', { class: 'mine-state', text: t(`mine_${st}`) }),
      el('p', { class: 'mine-text', dir: 'auto', text: m.text }),
      outcomeNode(outcomes.get(m.id)));
  }));
}

// ---------- status lines ----------

function showStatus(kind, key, vars = {}, code = null) {
  state.status = { kind, key, vars, code };
  renderStatus();
}

function renderStatus() {
  const s = state.status;
  if (!s) { ui.status.hidden = true; return; }
  let text;
  if (s.cooldown) {
    const left = cooldownLeft();
    if (left <= 0) { state.status = null; ui.status.hidden = true; renderCompose(); return; }
    text = t(`err_${s.code}`, { s: fmtNumber(Math.ceil(left / 1000)) });
  } else {
    text = t(s.key, s.vars);
  }
  ui.status.hidden = false;
  ui.status.dataset.kind = s.kind;
  if (s.code) ui.status.dataset.code = s.code; else delete ui.status.dataset.code;
  ui.status.textContent = text;
}

function showNotice(key, vars = {}, code = null) {
  state.notice = { key, vars, code, until: Date.now() + 6000 };
  renderNotice();
}

function renderNotice() {
  const n = state.notice;
  if (!n || Date.now() > n.until) { state.notice = null; ui.notice.hidden = true; return; }
  ui.notice.hidden = false;
  if (n.code) ui.notice.dataset.code = n.code; else delete ui.notice.dataset.code;
  ui.notice.textContent = t(n.key, n.vars);
}

function renderConn() {
  const c = state.conn;
  ui.conn.dataset.state = c.state === 'open' && !state.ready ? 'connecting' : c.state;
  if (c.state === 'open') ui.conn.textContent = t(state.ready ? 'conn_open' : 'conn_connecting');
  else if (c.state === 'waiting') ui.conn.textContent = t('conn_waiting', { s: fmtNumber(Math.max(1, Math.ceil((c.retryAt - Date.now()) / 1000))) });
  else if (c.state === 'stopped') ui.conn.textContent = t('conn_stopped');
  else ui.conn.textContent = t('conn_connecting');
}

// One ticker for every countdown on the page.
setInterval(() => {
  if (state.conn.state === 'waiting') renderConn();
  if (state.status && state.status.cooldown) renderStatus();
  if (state.notice) renderNotice();
  watchPlayback();
}, 500);

// ---------- language ----------

function rerenderAll() {
  renderSync();
  renderConn();
  renderSession();
  renderVideoMessage();
  renderViewers();
  renderUnmute();
  renderCompose();
  renderStatus();
  renderNotice();
  renderMine();
  for (const [id, c] of state.comments) {
    const li = state.nodes.get(id);
    if (!li) continue;
    const time = li.querySelector('.comment-time');
    time.textContent = fmtTime(c.at);
    const name = li.querySelector('.comment-name.is-anon');
    if (name) name.textContent = t('anonymous');
    fillVote(li, c);
  }
}

const renderSync = bindSyncSwitch(ui.syncToggle, sync, { t, storageGet, storageSet });
onLangChange(rerenderAll);
onLangChange(() => polls.render());
rerenderAll();
renderFeedEmpty();
socket.start();
