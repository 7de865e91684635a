// Studio page: login, review queue with keyboard moderation, settings,
// recently approved list, counters, the "Broadcast" panel (the video pipeline's
// `pipeline` status: input, fps, drops, bitrate, HLS latency, recording,
// restreams, errors) and the "On air" panel (what the overlay
// shows, the rotation, lower third, ticker, theme, and a live preview). Protocol: docs/protocol.md,
// subprotocol sabla.studio.v1. Items change only when the server says so
// (`pending`, `updated`, `snapshot`), never optimistically.
import { t, tn, onLangChange, fmtTime, fmtNumber, fmtDecimal, sessionTitle, sourceLabel, storageGet, storageSet } from './i18n.js';
import { ReconnectingSocket, wsUrl } from './ws.js';
import { el, $, dirOf } from './dom.js';
import { ProgramMonitor } from './monitor.js';
import { api, initShell, setupLogin } from './shell.js';

initShell(); // header and sign-in form first: `ui` below looks their elements up

const APPROVED_LIMIT = 100;
const OP_TIMEOUT_MS = 10000;
const STATUSES = ['pending', 'approved', 'rejected', 'hidden'];
const ON_AIR_ACTIONS = ['air', 'queue_air', 'clear', 'unair', 'lower_third', 'ticker', 'theme'];
const QUEUE_SECONDS_DEFAULT = 15;
const THEME_PRESETS = ['default', 'light', 'dark'];
const LT_FIELDS = ['name_ar', 'name_en', 'title_ar', 'title_en', 'session_ar', 'session_en'];
const BC_STATES = ['playing', 'starting', 'error', 'stopped', 'off'];
const BC_RESTREAM_STATES = ['live', 'connecting', 'reconnecting', 'failed'];
const BC_STALE_MS = 5000; // `pipeline` comes about once a second
const SORTS = ['oldest', 'newest', 'votes'];
const SORT_KEY = 'sabla.studio.sort';

// Every key of the desk, in one table: the keydown handler, the help sheet
// (?) and the <kbd> on the buttons all come from it. `code` is the physical
// key (KeyboardEvent.code), so a letter works whatever the layout (Arabic:
// the key that types ش is KeyA). `scope`: queue = the selected pending
// comment, approved = the selected approved one, screen = the screen itself.
const KEYS = [
  { group: 'queue', code: 'KeyA', label: 'A', action: 'approve', scope: 'queue' },
  { group: 'queue', code: 'KeyR', label: 'R', action: 'reject', scope: 'queue' },
  { group: 'queue', code: 'KeyE', label: 'E', action: 'edit', scope: 'queue' },
  { group: 'queue', code: 'KeyB', label: 'B', action: 'ban', scope: 'queue' },
  { group: 'queue', code: 'KeyH', label: 'H', action: 'hide', scope: 'queue' },
  { group: 'onair', code: 'KeyN', label: 'N', action: 'air', scope: 'approved' },
  { group: 'onair', code: 'KeyS', label: 'S', action: 'add', scope: 'approved' },
  { group: 'onair', code: 'KeyQ', label: 'Q', action: 'queue', scope: 'approved' },
  { group: 'onair', code: 'KeyX', label: 'X', action: 'clear', scope: 'screen' },
];
// Keys listed in the sheet without an entry above (handled on their own).
const KEY_NOTES = [
  { group: 'queue', label: '↑ ↓', text: 'key_select' },
  { group: 'onair', label: 'Shift + ↑ ↓', text: 'key_select_approved' },
  { group: 'general', label: '?', text: 'key_help' },
  { group: 'general', label: 'Esc', text: 'key_close' },
];
// Why a comment is rejected: a fixed set the report counts, plus a note.
const REJECT_REASONS = ['off_topic', 'abusive', 'duplicate', 'personal_data', 'other'];
const keyFor = (action, scope) => KEYS.find((k) => k.action === action && (!scope || k.scope === scope)) || null;

const ui = {
  conn: $('#conn'),
  studio: $('#studio'),
  sessionStatus: $('#session-status'),
  sessionTitle: $('#session-title'),
  notice: $('#studio-notice'),
  queue: $('#queue'),
  queueEmpty: $('#queue-empty'),
  sort: $('#queue-sort'),
  approved: $('#approved'),
  approvedEmpty: $('#approved-empty'),
  settingsForm: $('#settings-form'),
  setHold: $('#set-hold'),
  setSlow: $('#set-slow'),
  setMaxlen: $('#set-maxlen'),
  setBlocked: $('#set-blocked'),
  setAction: $('#set-action'),
  settingsStatus: $('#settings-status'),
  dialog: $('#prompt-dialog'),
  dialogForm: $('#prompt-form'),
  dialogLabel: $('#prompt-label'),
  dialogInput: $('#prompt-input'),
  dialogError: $('#prompt-error'),
  dialogCancel: $('#prompt-cancel'),
  onair: $('#onair'),
  onairCount: $('#onair-count'),
  onairClear: $('#onair-clear'),
  keysDialog: $('#keys-dialog'),
  keysSheet: $('#keys-sheet'),
  keysOpen: $('#keys-open'),
  keysClose: $('#keys-close'),
  settingsDialog: $('#settings-dialog'),
  settingsOpen: $('#settings-open'),
  settingsClose: $('#settings-close'),
  onairReadonly: $('#onair-readonly'),
  onairNotice: $('#onair-notice'),
  onairNow: $('#onair-now'),
  onairNowEmpty: $('#onair-now-empty'),
  onairExtras: $('#onair-extras'),
  rotation: $('#rotation'),
  rotationEmpty: $('#rotation-empty'),
  rotationUntil: $('#rotation-until'),
  ltForm: $('#lt-form'),
  ltClear: $('#lt-clear'),
  tickerForm: $('#ticker-form'),
  tickerInput: $('#ticker-input'),
  tickerClear: $('#ticker-clear'),
  themeForm: $('#theme-form'),
  themePreset: $('#theme-preset'),
  themePosition: $('#theme-position'),
  themeFontSize: $('#theme-font-size'),
  themeMaxLines: $('#theme-max-lines'),
  bc: $('#broadcast'),
  bcState: $('#bc-state'),
  bcStale: $('#bc-stale'),
  bcError: $('#bc-error'),
  bcOff: $('#bc-off'),
  bcDetails: $('#bc-details'),
  bcInput: $('#bc-input'),
  bcFps: $('#bc-fps'),
  bcDropped: $('#bc-dropped'),
  bcFrames: $('#bc-frames'),
  bcBitrate: $('#bc-bitrate'),
  bcLatency: $('#bc-latency'),
  bcSegments: $('#bc-segments'),
  bcRecording: $('#bc-recording'),
  bcRestreams: $('#bc-restreams'),
  bcRestreamsEmpty: $('#bc-restreams-empty'),
  bcLastError: $('#bc-last-error'),
  counters: {
    pending: $('#count-pending'),
    approved: $('#count-approved'),
    rejected: $('#count-rejected'),
    hidden: $('#count-hidden'),
    viewers: $('#count-viewers'),
  },
};

const state = {
  me: null,
  session: null,
  settings: null,
  pending: new Map(), // id -> comment (status pending)
  approved: new Map(), // id -> comment (recently approved)
  statusOf: new Map(), // id -> last known status, for counters
  queueNodes: new Map(), // id -> <li>
  approvedNodes: new Map(),
  counters: { pending: 0, approved: 0, rejected: 0, hidden: 0, viewers: 0 },
  // The queue is worked oldest first unless the producer switched (remembered).
  sort: SORTS.includes(storageGet(SORT_KEY)) ? storageGet(SORT_KEY) : 'oldest',
  selected: null, // id of the selected queue item
  selectedApproved: null, // id of the selected approved item (producer keys)
  editing: null, // id of the item being edited
  ops: new Map(), // op -> {action, id, timer}
  opSeq: 0,
  conn: { state: 'stopped', retryAt: 0 },
  haveSnapshot: false,
  notice: null, // {key, vars, code, until}
  settingsNotice: null,
  dialogOpen: false,
  onair: null, // last overlay state {comments, lower_third, ticker, theme}
  onairVersion: null,
  rotation: { items: [], until: null },
  onairNotice: null, // {key, vars, code, until}
  pipeline: null, // last `pipeline` message
  pipelineAt: 0, // when it came
  restreamsKey: '',
};

// ---------- sign-in ----------

let auth = null; // shell.js setupLogin(), started at the end

function showStudio(me) {
  state.me = me;
  ui.studio.hidden = false;
  socket.start();
}

function hideStudio() {
  socket.stop();
  state.me = null;
  ui.studio.hidden = true;
  resetState();
}

// ---------- connection ----------

const socket = new ReconnectingSocket({
  url: wsUrl('/ws'),
  protocol: 'sabla.studio.v1',
  onMessage,
  onState(s, info) {
    state.conn = { state: s, retryAt: info.retryAt || 0 };
    if (s !== 'open') {
      state.haveSnapshot = false;
      failAllOps();
    }
    renderConn();
  },
  // A closed studio socket may mean the login expired: check before retrying.
  async beforeReconnect() {
    try {
      const res = await api('GET', '/api/v1/me');
      if (res.status === 401) {
        auth.expired();
        return false;
      }
    } catch { /* server unreachable: keep retrying */ }
    return true;
  },
});

function renderConn() {
  const c = state.conn;
  const shown = c.state === 'open' && !state.haveSnapshot ? 'connecting' : c.state;
  ui.conn.dataset.state = shown;
  ui.studio.dataset.state = shown === 'open' ? 'ready' : shown;
  if (shown === 'open') ui.conn.textContent = t('conn_open');
  else if (shown === 'waiting') ui.conn.textContent = t('conn_waiting', { s: fmtNumber(Math.max(1, Math.ceil((c.retryAt - Date.now()) / 1000))) });
  else if (shown === 'stopped') ui.conn.textContent = '';
  else ui.conn.textContent = t('conn_connecting');
}

function onMessage(msg) {
  if (msg.counters && typeof msg.counters === 'object') Object.assign(state.counters, msg.counters);
  switch (msg.type) {
    case 'snapshot': onSnapshot(msg); break;
    case 'pending': if (msg.comment) onPending(msg.comment); break;
    case 'updated': if (msg.comment) onUpdated(msg); break;
    case 'settings': onSettings(msg); break;
    case 'viewer': onViewer(msg.viewer); break;
    case 'session': state.session = msg.session || null; renderSession(); break;
    case 'counters': renderCounters(); break;
    case 'ok': onOk(msg); break;
    case 'error': onOpError(msg); break;
    case 'overlay': onOverlay(msg); break;
    case 'rotation': onRotation(msg); break;
    case 'pipeline': onPipeline(msg); break;
    default: break; // future messages
  }
}

function resetState() {
  state.pending.clear();
  state.approved.clear();
  state.statusOf.clear();
  state.queueNodes.clear();
  state.approvedNodes.clear();
  ui.queue.replaceChildren();
  ui.approved.replaceChildren();
  state.editing = null;
  failAllOps();
}

function onSnapshot(msg) {
  const keepSelected = state.selected;
  resetState();
  if (msg.me) { state.me = msg.me; auth.setMe(msg.me); }
  state.session = msg.session || null;
  for (const c of msg.pending || []) { state.pending.set(c.id, c); state.statusOf.set(c.id, 'pending'); }
  for (const c of msg.approved || []) { state.approved.set(c.id, c); state.statusOf.set(c.id, 'approved'); }
  if (msg.counters) Object.assign(state.counters, msg.counters);
  if (msg.settings) { state.settings = msg.settings; fillSettings(); }
  if (msg.overlay) onOverlay(msg.overlay);
  onRotation(msg.rotation || { items: [], until: null });
  if (msg.pipeline && typeof msg.pipeline === 'object') onPipeline(msg.pipeline);
  state.selected = state.pending.has(keepSelected) ? keepSelected : null;
  state.haveSnapshot = true;
  renderConn();
  renderSession();
  renderCounters();
  renderQueue();
  renderApproved();
  renderOnAirRole();
}

function onPending(c) {
  const prev = state.statusOf.get(c.id);
  if (prev !== 'pending') bumpCounters(prev, 'pending');
  state.statusOf.set(c.id, 'pending');
  state.pending.set(c.id, c);
  renderCounters();
  renderQueue();
}

function bumpCounters(from, to) {
  if (from === to) return;
  if (STATUSES.includes(from) && state.counters[from] > 0) state.counters[from] -= 1;
  if (STATUSES.includes(to)) state.counters[to] += 1;
}

function onUpdated(msg) {
  const c = msg.comment;
  let prev = state.statusOf.get(c.id);
  // Comments we never saw: a hidden one was approved (pending ones are all in the snapshot).
  if (prev === undefined && msg.action === 'hide') prev = 'approved';
  if (!msg.counters) bumpCounters(prev, c.status);
  state.statusOf.set(c.id, c.status);

  const wasEditing = state.editing === c.id;
  if (c.status === 'pending') state.pending.set(c.id, c); else state.pending.delete(c.id);
  if (c.status === 'approved') state.approved.set(c.id, c); else state.approved.delete(c.id);
  if (wasEditing && (msg.action === 'edit' || c.status !== 'pending')) state.editing = null;

  // Someone else decided on a comment this moderator was looking at.
  const mine = state.me && msg.by === state.me.name;
  if (!mine && msg.by && wasEditing && ['approve', 'reject', 'hide', 'edit'].includes(msg.action)) {
    showNotice('decided_by', { id: c.id, action: t(`past_${msg.action}`), by: msg.by });
  }
  // An editor closed by this update: rebuild the item from the server's text.
  const node = state.queueNodes.get(c.id);
  if (node && wasEditing && state.editing === null && c.status === 'pending') {
    updateItem(node, c, true);
    node.dataset.rendered = renderKey(c);
  }
  renderCounters();
  renderQueue();
  renderApproved();
}

function onSettings(msg) {
  if (!msg.settings) return;
  state.settings = msg.settings;
  fillSettings();
  const mine = state.me && msg.by === state.me.name;
  showSettingsNotice(mine ? 'settings_saved' : 'settings_changed_by', { by: msg.by || '' });
}

function onViewer(v) {
  if (!v) return;
  const until = Number(v.banned_until) || 0;
  const name = v.name || t('anonymous');
  if (until > Date.now()) showNotice('viewer_banned', { id: v.id, name, time: fmtTime(until) }, null, 'info');
  else showNotice('viewer_unbanned', { id: v.id, name }, null, 'info');
}

// ---------- actions ----------

// Sends an action with a fresh `op` id; `id` is the comment it concerns (for the
// busy state); `button`, if given, stays disabled until the reply.
function sendOp(msg, id = msg.id ?? null, button = null) {
  const onAir = ON_AIR_ACTIONS.includes(msg.type);
  const offline = () => (onAir ? showOnAirNotice('op_offline', {}, 'offline') : showNotice('op_offline', {}, 'offline'));
  if (!state.haveSnapshot) { offline(); return null; }
  const op = `op-${Date.now().toString(36)}-${++state.opSeq}`;
  if (!socket.send({ ...msg, op })) { offline(); return null; }
  const entry = { action: msg.type, id, button };
  entry.timer = setTimeout(() => {
    if (!state.ops.has(op)) return;
    finishOp(op);
    if (onAir) showOnAirNotice('op_timeout', {}, 'timeout'); else showNotice('op_timeout', {}, 'timeout');
  }, OP_TIMEOUT_MS);
  state.ops.set(op, entry);
  setBusy(entry.id, true);
  if (button) button.disabled = true;
  return op;
}

function finishOp(op) {
  const entry = state.ops.get(op);
  if (!entry) return null;
  clearTimeout(entry.timer);
  state.ops.delete(op);
  setBusy(entry.id, false);
  if (entry.button) entry.button.disabled = false;
  return entry;
}

function failAllOps() {
  for (const [op] of state.ops) finishOp(op);
}

function setBusy(id, busy) {
  if (id === null || id === undefined) return;
  for (const node of [state.queueNodes.get(id), state.approvedNodes.get(id)]) {
    if (!node) continue;
    const stillBusy = busy || [...state.ops.values()].some((e) => e.id === id);
    node.dataset.busy = stillBusy ? 'true' : 'false';
    for (const b of node.querySelectorAll('button[data-action]')) b.disabled = stillBusy;
    const box = node.querySelector('textarea.edit-text');
    if (box) box.disabled = stillBusy;
  }
}

function onOk(msg) {
  const entry = finishOp(msg.op);
  if (entry && entry.action === 'settings') showSettingsNotice('settings_saved');
  if (entry && ON_AIR_ACTIONS.includes(entry.action)) {
    state.onairNotice = null;
    renderOnAirNotice();
    const form = { lower_third: ui.ltForm, ticker: ui.tickerForm, theme: ui.themeForm }[entry.action];
    if (form) { delete form.dataset.dirty; renderOnAirForms(); }
  }
}

function onOpError(msg) {
  const entry = finishOp(msg.op);
  const code = String(msg.code || 'unknown');
  if (entry && ON_AIR_ACTIONS.includes(entry.action)) { onOnAirError(entry, code, msg.message); return; }
  const known = ['conflict', 'not_found', 'invalid', 'forbidden', 'busy'];
  const key = known.includes(code) ? `op_${code}` : 'op_unknown';
  const vars = { code, message: msg.message || code };
  if (entry && entry.action === 'settings') { showSettingsNotice(key, vars, code); return; }
  showNotice(key, vars, code);
  if (entry && entry.action === 'edit' && state.editing === entry.id) {
    const box = state.queueNodes.get(entry.id)?.querySelector('textarea.edit-text');
    if (box) box.focus();
  }
}

async function perform(action, id, node = null) {
  const c = state.pending.get(id) || state.approved.get(id);
  if (!c) return;
  switch (action) {
    case 'air':
      sendOp({ type: 'air', id, add: false });
      break;
    case 'add':
      sendOp({ type: 'air', id, add: true });
      break;
    case 'queue': {
      const box = node && node.querySelector('input.queue-seconds');
      const raw = box ? box.value.trim() : String(QUEUE_SECONDS_DEFAULT);
      const seconds = Number(raw === '' ? QUEUE_SECONDS_DEFAULT : raw);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
        if (box) { box.setAttribute('aria-invalid', 'true'); box.focus(); }
        showOnAirNotice('queue_bad_seconds', {}, 'invalid');
        return;
      }
      if (box) box.removeAttribute('aria-invalid');
      sendOp({ type: 'queue_air', id, seconds });
      break;
    }
    case 'approve':
      sendOp({ type: 'approve', id });
      break;
    case 'reject': {
      const answer = await choose({
        id: 'reject-dialog', title: t('reject_title'), quote: c.text, legend: t('reject_reason'), name: 'reason',
        options: REJECT_REASONS.map((r) => ({ value: r, label: t(`reason_${r}`) })), initial: 'off_topic',
        note: t('reject_note'), ok: t('reject_ok'), danger: true,
        validate: (v, note) => (v === 'other' && !note ? t('reason_other_needs_note') : null),
      });
      if (answer === null) return;
      const msg = { type: 'reject', id, reason_code: answer.value };
      if (answer.note) msg.reason = answer.note;
      sendOp(msg);
      break;
    }
    case 'edit':
      if (state.pending.has(id)) startEdit(id);
      break;
    case 'ban': {
      if (c.viewer === undefined || c.viewer === null) { showNotice('ban_no_viewer', {}, 'no_viewer'); return; }
      const answer = await ask(t('prompt_ban'), '600', (v) => /^\s*\d+\s*$/.test(v) && Number(v) > 0 ? null : t('ban_bad_seconds'));
      if (answer === null) return;
      sendOp({ type: 'ban', viewer: c.viewer, seconds: Number(answer.trim()), ip: false }, id);
      break;
    }
    case 'hide':
      sendOp({ type: 'hide', id });
      break;
    default:
      break;
  }
}

// ---------- queue ----------

function sortedPending() {
  const list = [...state.pending.values()];
  if (state.sort === 'votes') list.sort((a, b) => (Number(b.votes) || 0) - (Number(a.votes) || 0) || a.id - b.id);
  else if (state.sort === 'newest') list.sort((a, b) => b.id - a.id);
  else list.sort((a, b) => a.id - b.id); // oldest first: who asked first is answered first
  return list;
}

function actionButton(action, key) {
  return el('button', { class: `btn btn-small${action === 'reject' || action === 'ban' ? ' btn-danger' : ''}`, type: 'button', dataset: { action }, title: key ? `${t(`action_${action}`)} (${key})` : t(`action_${action}`) },
    el('span', { class: 'action-label', text: t(`action_${action}`) }),
    key ? el('kbd', { text: key }) : null);
}

function commentMeta(c) {
  const name = typeof c.name === 'string' && c.name ? c.name : null;
  return el('div', { class: 'comment-meta' },
    el('bdi', { class: name ? 'comment-name' : 'comment-name is-anon', text: name || t('anonymous') }),
    c.viewer !== undefined && c.viewer !== null ? el('span', { class: 'comment-viewer', text: t('viewer_label', { id: c.viewer }) }) : null,
    el('span', { class: 'comment-source', text: t('source_label', { source: sourceLabel(c.source) }) }),
    el('time', { class: 'comment-time', dir: 'auto', text: fmtTime(c.at) }),
    el('span', { class: 'comment-votes', text: t('votes_n', { n: fmtNumber(Number(c.votes) || 0) }) }));
}

function createQueueItem(c) {
  const li = el('li', { class: 'comment queue-item', tabindex: '-1', dataset: { id: c.id, status: 'pending', busy: 'false' } });
  updateItem(li, c, false);
  return li;
}

// (Re)builds an item's content; keeps an open editor unless `force`.
function updateItem(li, c, force) {
  const editor = li.querySelector('.editor');
  if (editor && state.editing === c.id && !force) return;
  const text = el('p', { class: 'comment-text', dir: dirOf(c.dir), lang: c.lang || null, text: c.text || '' });
  const reason = c.reason ? el('p', { class: 'comment-reason', dir: 'auto', text: t('reason_label', { reason: c.reason }) }) : null;
  const actions = el('div', { class: 'actions' },
    ...['approve', 'reject', 'edit', 'ban', 'hide'].map((a) => actionButton(a, keyFor(a, 'queue')?.label || '')));
  li.dataset.viewer = c.viewer ?? '';
  li.replaceChildren(commentMeta(c), text, reason || '', actions);
  if (state.editing === c.id) openEditor(li, c);
  setBusy(c.id, false);
}

function renderQueue() {
  const list = sortedPending();
  const ids = list.map((c) => c.id);
  // Keep the selection on the same comment, or at the same place when it left.
  if (state.selected !== null && !state.pending.has(state.selected)) {
    const oldOrder = [...ui.queue.children].map((n) => Number(n.dataset.id));
    const idx = oldOrder.indexOf(state.selected);
    let next = null;
    for (let i = idx + 1; i < oldOrder.length && next === null; i++) if (state.pending.has(oldOrder[i])) next = oldOrder[i];
    for (let i = idx - 1; i >= 0 && next === null; i--) if (state.pending.has(oldOrder[i])) next = oldOrder[i];
    state.selected = next;
  }
  if (state.selected === null && ids.length) state.selected = ids[0];

  for (const [id, node] of state.queueNodes) {
    if (!state.pending.has(id)) { node.remove(); state.queueNodes.delete(id); }
  }
  list.forEach((c, i) => {
    let node = state.queueNodes.get(c.id);
    if (!node) {
      node = createQueueItem(c);
      state.queueNodes.set(c.id, node);
    } else if (node.dataset.rendered !== renderKey(c)) {
      updateItem(node, c, false);
    }
    node.dataset.rendered = renderKey(c);
    const at = ui.queue.children[i];
    if (at !== node) ui.queue.insertBefore(node, at || null); // moves only out-of-place nodes
  });
  ui.queueEmpty.hidden = list.length > 0;
  renderSelection();
}

function renderKey(c) {
  return JSON.stringify([c.text, c.name, c.votes, c.reason, c.dir]);
}

function renderSelection() {
  for (const [id, node] of state.queueNodes) {
    const sel = id === state.selected;
    node.classList.toggle('is-selected', sel);
    node.setAttribute('aria-current', sel ? 'true' : 'false');
  }
}

function select(id, scroll = true) {
  if (!state.pending.has(id)) return;
  state.selected = id;
  renderSelection();
  if (scroll) state.queueNodes.get(id)?.scrollIntoView({ block: 'nearest' });
}

function moveSelection(delta) {
  const ids = [...ui.queue.children].map((n) => Number(n.dataset.id));
  if (!ids.length) return;
  const idx = ids.indexOf(state.selected);
  const next = idx < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, idx + delta));
  select(ids[next]);
}

ui.sort.value = state.sort;
ui.sort.addEventListener('change', () => {
  state.sort = SORTS.includes(ui.sort.value) ? ui.sort.value : 'oldest';
  storageSet(SORT_KEY, state.sort);
  renderQueue();
});

// ---------- inline edit ----------

function startEdit(id) {
  const li = state.queueNodes.get(id);
  const c = state.pending.get(id);
  if (!li || !c) return;
  if (state.editing !== null && state.editing !== id) cancelEdit();
  state.editing = id;
  select(id);
  openEditor(li, c);
}

function openEditor(li, c) {
  if (li.querySelector('.editor')) return;
  const box = el('textarea', { class: 'edit-text', dir: dirOf(c.dir), rows: '3', 'aria-label': t('action_edit') });
  box.value = c.text || '';
  const save = el('button', { class: 'btn btn-small btn-primary', type: 'button', dataset: { editAction: 'save' }, text: t('action_save') });
  const cancel = el('button', { class: 'btn btn-small', type: 'button', dataset: { editAction: 'cancel' }, text: t('action_cancel') });
  const editor = el('div', { class: 'editor' }, box, el('div', { class: 'editor-row' }, el('span', { class: 'hint', text: t('edit_hint') }), save, cancel));
  const text = li.querySelector('.comment-text');
  if (text) text.replaceWith(editor); else li.append(editor);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function saveEdit() {
  const id = state.editing;
  const li = state.queueNodes.get(id);
  const box = li?.querySelector('textarea.edit-text');
  if (!box) return;
  const c = state.pending.get(id);
  const text = box.value;
  if (c && text === c.text) { cancelEdit(); return; }
  // The editor stays open until the server's `updated` (or an error) arrives.
  sendOp({ type: 'edit', id, text });
}

function cancelEdit() {
  const id = state.editing;
  state.editing = null;
  const li = state.queueNodes.get(id);
  const c = state.pending.get(id);
  if (li && c) { updateItem(li, c, true); li.dataset.rendered = renderKey(c); }
  if (li) li.focus({ preventScroll: true });
}

ui.queue.addEventListener('keydown', (ev) => {
  if (!ev.target.matches('textarea.edit-text')) return;
  if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); cancelEdit(); }
  else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); ev.stopPropagation(); saveEdit(); }
});

// ---------- clicks ----------

ui.queue.addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-id]');
  if (!li) return;
  const id = Number(li.dataset.id);
  const editBtn = ev.target.closest('[data-edit-action]');
  if (editBtn) { if (editBtn.dataset.editAction === 'save') saveEdit(); else cancelEdit(); return; }
  const btn = ev.target.closest('button[data-action]');
  select(id, false);
  if (btn) perform(btn.dataset.action, id);
});

ui.approved.addEventListener('click', (ev) => {
  const btn = ev.target.closest('button[data-action]');
  const li = ev.target.closest('li[data-id]');
  if (!li) return;
  selectApproved(Number(li.dataset.id), false);
  if (btn) perform(btn.dataset.action, Number(li.dataset.id), li);
});

// Enter in a rotation-seconds box queues that comment.
ui.approved.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' || !ev.target.matches('input.queue-seconds')) return;
  ev.preventDefault();
  const li = ev.target.closest('li[data-id]');
  if (li) perform('queue', Number(li.dataset.id), li);
});

// ---------- keyboard ----------

function isHelpKey(ev) {
  // "?" is Shift+/ on a US layout and "؟" on an Arabic one (same physical key).
  return ev.key === '?' || ev.key === '؟' || (ev.code === 'Slash' && ev.shiftKey);
}

function keyEntry(ev) {
  if (/^Key[A-Z]$/.test(ev.code || '')) return KEYS.find((k) => k.code === ev.code) || null;
  // Without a physical code (some virtual keyboards) fall back to the letter.
  const letter = ev.key && ev.key.length === 1 ? ev.key.toUpperCase() : '';
  return KEYS.find((k) => k.label === letter) || null;
}

function moveApprovedSelection(delta) {
  const ids = [...ui.approved.children].map((n) => Number(n.dataset.id));
  if (!ids.length) return;
  const idx = ids.indexOf(state.selectedApproved);
  selectApproved(ids[idx < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, idx + delta))]);
}

function selectApproved(id, scroll = true) {
  if (!state.approved.has(id)) return;
  state.selectedApproved = id;
  renderApprovedSelection();
  if (scroll) state.approvedNodes.get(id)?.scrollIntoView({ block: 'nearest' });
}

function renderApprovedSelection() {
  if (state.selectedApproved !== null && !state.approved.has(state.selectedApproved)) state.selectedApproved = null;
  if (state.selectedApproved === null && ui.approved.firstElementChild) state.selectedApproved = Number(ui.approved.firstElementChild.dataset.id);
  for (const [id, node] of state.approvedNodes) {
    const sel = id === state.selectedApproved;
    node.classList.toggle('is-selected', sel);
    node.setAttribute('aria-current', sel ? 'true' : 'false');
  }
}

document.addEventListener('keydown', (ev) => {
  if (ui.studio.hidden || ev.defaultPrevented) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (isHelpKey(ev) && !ev.target.closest?.('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) {
    if (!state.dialogOpen || ui.keysDialog.open) { ev.preventDefault(); toggleKeys(); }
    return;
  }
  if (state.dialogOpen) return;
  if (ev.target.closest && ev.target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) return;
  const key = ev.key;
  if (ev.shiftKey && (key === 'ArrowDown' || key === 'ArrowUp')) { ev.preventDefault(); moveApprovedSelection(key === 'ArrowDown' ? 1 : -1); return; }
  if (key === 'ArrowDown') { ev.preventDefault(); moveSelection(1); return; }
  if (key === 'ArrowUp') { ev.preventDefault(); moveSelection(-1); return; }
  if (key === 'Home') { ev.preventDefault(); moveSelection(-Infinity); return; }
  if (key === 'End') { ev.preventDefault(); moveSelection(Infinity); return; }
  const entry = keyEntry(ev);
  if (!entry) return;
  if (entry.scope === 'screen') {
    ev.preventDefault();
    performScreen(entry.action);
    return;
  }
  if (entry.scope === 'approved') {
    renderApprovedSelection();
    const id = state.selectedApproved;
    if (id === null || !state.approved.has(id)) return;
    ev.preventDefault();
    const node = state.approvedNodes.get(id);
    if (node?.dataset.busy === 'true') return;
    perform(entry.action, id, node);
    return;
  }
  if (state.selected === null || !state.pending.has(state.selected)) return;
  ev.preventDefault();
  if (state.queueNodes.get(state.selected)?.dataset.busy === 'true') return;
  perform(entry.action, state.selected);
});

// Screen-wide actions (no comment selected): the panic clear.
function performScreen(action) {
  if (action === 'clear') sendOp({ type: 'clear' }, null, ui.onairClear);
}

// ---------- keys sheet and settings dialogs ----------

function renderKeysSheet() {
  const groups = ['queue', 'onair', 'general'];
  ui.keysSheet.replaceChildren(...groups.map((g) => {
    const rows = [
      ...KEY_NOTES.filter((k) => k.group === g && k.label.startsWith('↑')).map((k) => [k.label, t(k.text)]),
      ...KEYS.filter((k) => k.group === g).map((k) => [k.label, t(`action_${k.action}`)]),
      ...KEY_NOTES.filter((k) => k.group === g && !k.label.startsWith('↑')).map((k) => [k.label, t(k.text)]),
    ];
    return el('section', { class: 'keys-group', dataset: { group: g } },
      el('h3', { text: t(`keys_group_${g}`) }),
      el('dl', {}, ...rows.flatMap(([label, text]) => [el('dt', {}, el('kbd', { text: label })), el('dd', { text })])));
  }), el('p', { class: 'hint keys-note', text: t('keys_note') }));
}

function openModal(dialog) {
  if (dialog.open) return;
  state.dialogOpen = true;
  dialog.showModal();
}
function closeModal(dialog) {
  if (dialog.open) dialog.close();
}
function toggleKeys() {
  if (ui.keysDialog.open) { closeModal(ui.keysDialog); return; }
  renderKeysSheet();
  openModal(ui.keysDialog);
}
for (const dialog of [ui.keysDialog, ui.settingsDialog]) {
  dialog.addEventListener('close', () => { state.dialogOpen = ui.dialog.open || ui.keysDialog.open || ui.settingsDialog.open; });
}
ui.keysOpen.addEventListener('click', toggleKeys);
ui.keysClose.addEventListener('click', () => closeModal(ui.keysDialog));
ui.settingsOpen.addEventListener('click', () => { fillSettings(); openModal(ui.settingsDialog); });
ui.settingsClose.addEventListener('click', () => closeModal(ui.settingsDialog));

// ---------- choice dialogs (reject reasons, ban durations) ----------

// A modal with one choice among `options` (radios; digits 1-9 pick one) and
// an optional free-text note. Resolves {value, note} or null (cancelled).
// The dialog is built once per `id` and kept in the page.
function choose({ id, title, quote = '', legend, name, options, initial, note = null, ok, danger = false, validate = null }) {
  let dialog = document.getElementById(id);
  if (dialog) dialog.remove();
  const noteBox = note ? el('input', { class: 'choice-note', name: 'note', type: 'text', maxlength: '200', dir: 'auto', autocomplete: 'off', 'aria-label': note }) : null;
  const error = el('p', { class: 'notice', dataset: { kind: 'error' }, hidden: true });
  const form = el('form', { novalidate: true },
    el('h2', { class: 'panel-title', text: title }),
    quote ? el('p', { class: 'dialog-quote', dir: 'auto', text: quote }) : null,
    el('fieldset', { class: 'choices' }, el('legend', { text: legend }),
      ...options.map((o, i) => el('label', { class: 'choice' },
        el('input', { type: 'radio', name, value: o.value, checked: o.value === initial }),
        el('span', { text: o.label }), i < 9 ? el('kbd', { text: String(i + 1) }) : null))),
    noteBox ? el('label', { class: 'field' }, el('span', { text: note }), noteBox) : null,
    error,
    el('div', { class: 'dialog-buttons' },
      el('button', { class: `btn ${danger ? 'btn-danger-solid' : 'btn-primary'}`, type: 'submit', dataset: { dialog: 'ok' }, text: ok }),
      el('button', { class: 'btn', type: 'button', dataset: { dialog: 'cancel' }, text: t('action_cancel') })));
  dialog = el('dialog', { id, class: 'prompt-dialog choice-dialog' }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = form.elements[name].value;
      const text = noteBox ? noteBox.value.trim() : '';
      const problem = validate ? validate(value, text) : null;
      if (problem) { error.hidden = false; error.textContent = problem; (noteBox || form).focus(); return; }
      finish({ value, note: text });
    });
    form.querySelector('[data-dialog=cancel]').addEventListener('click', () => finish(null));
    dialog.addEventListener('close', () => { state.dialogOpen = false; finish(null); });
    // Digits pick an option (Digit codes: the same on an Arabic layout).
    dialog.addEventListener('keydown', (ev) => {
      const m = /^(?:Digit|Numpad)([1-9])$/.exec(ev.code || '');
      if (!m || ev.target === noteBox) return;
      const radio = form.querySelectorAll(`input[name="${name}"]`)[Number(m[1]) - 1];
      if (radio) { ev.preventDefault(); radio.checked = true; radio.focus(); }
    });
    state.dialogOpen = true;
    dialog.showModal();
    form.querySelector(`input[name="${name}"]:checked`)?.focus();
  });
}

// ---------- prompt dialog ----------

let dialogResolve = null;
let dialogValidate = null;

function ask(label, initial, validate = null) {
  if (dialogResolve) dialogResolve(null);
  ui.dialogLabel.textContent = label;
  ui.dialogInput.value = initial;
  ui.dialogError.hidden = true;
  dialogValidate = validate;
  state.dialogOpen = true;
  ui.dialog.showModal();
  ui.dialogInput.focus();
  ui.dialogInput.select();
  return new Promise((resolve) => { dialogResolve = resolve; });
}

function closeDialog(value) {
  const resolve = dialogResolve;
  dialogResolve = null;
  state.dialogOpen = false;
  if (ui.dialog.open) ui.dialog.close();
  if (resolve) resolve(value);
}

ui.dialogForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = ui.dialogInput.value;
  const problem = dialogValidate ? dialogValidate(value) : null;
  if (problem) { ui.dialogError.hidden = false; ui.dialogError.textContent = problem; ui.dialogInput.focus(); return; }
  closeDialog(value);
});
ui.dialogCancel.addEventListener('click', () => closeDialog(null));
ui.dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); closeDialog(null); }); // Esc
ui.dialog.addEventListener('close', () => { if (dialogResolve) closeDialog(null); });

// ---------- approved list ----------

function renderApproved() {
  const list = [...state.approved.values()].sort((a, b) => b.id - a.id);
  for (const c of list.slice(APPROVED_LIMIT)) state.approved.delete(c.id);
  const shown = list.slice(0, APPROVED_LIMIT);
  for (const [id, node] of state.approvedNodes) {
    if (!state.approved.has(id)) { node.remove(); state.approvedNodes.delete(id); }
  }
  shown.forEach((c, i) => {
    let node = state.approvedNodes.get(c.id);
    const key = renderKey(c);
    if (!node || node.dataset.rendered !== key) {
      const oldSeconds = node?.querySelector('input.queue-seconds')?.value;
      const fresh = el('li', { class: 'comment approved-item', dataset: { id: c.id, status: 'approved', busy: 'false', rendered: key } },
        el('span', { class: 'onair-tag', text: t('onair_badge') }),
        commentMeta(c),
        el('p', { class: 'comment-text', dir: dirOf(c.dir), lang: c.lang || null, text: c.text || '' }),
        el('div', { class: 'actions onair-actions' },
          onAirButton('air', true),
          onAirButton('add', false),
          el('span', { class: 'queue-group' },
            el('input', { class: 'queue-seconds', type: 'number', min: '1', max: '3600', step: '1', inputmode: 'numeric', dir: 'ltr',
              value: oldSeconds || String(QUEUE_SECONDS_DEFAULT), 'aria-label': t('queue_seconds_label'), title: t('queue_seconds_label') }),
            el('span', { class: 'queue-unit', 'aria-hidden': 'true', text: t('queue_seconds') }),
            onAirButton('queue', false)),
          actionButton('hide', '')));
      if (node) node.replaceWith(fresh);
      node = fresh;
      state.approvedNodes.set(c.id, node);
      setBusy(c.id, false);
    }
    node.dataset.onair = onScreenIds().has(c.id) ? 'true' : 'false';
    const at = ui.approved.children[i];
    if (at !== node) ui.approved.insertBefore(node, at || null);
  });
  ui.approvedEmpty.hidden = shown.length > 0;
  renderApprovedSelection();
}

// ---------- session, counters, notices ----------

function renderSession() {
  const s = state.session;
  const live = !!s && s.status === 'live';
  ui.sessionStatus.dataset.status = live ? 'live' : 'offline';
  ui.sessionStatus.textContent = t(live ? 'status_live' : 'status_offline');
  ui.sessionTitle.textContent = (s && sessionTitle(s)) || t('no_session');
}

function renderCounters() {
  for (const [name, node] of Object.entries(ui.counters)) node.textContent = fmtNumber(Number(state.counters[name]) || 0);
}

function showNotice(key, vars = {}, code = null, kind = 'error') {
  state.notice = { key, vars, code, kind, until: Date.now() + 8000 };
  renderNotice();
}

function renderNotice() {
  const n = state.notice;
  if (!n || Date.now() > n.until) { state.notice = null; ui.notice.hidden = true; return; }
  ui.notice.hidden = false;
  ui.notice.dataset.kind = n.kind;
  if (n.code) ui.notice.dataset.code = n.code; else delete ui.notice.dataset.code;
  ui.notice.textContent = t(n.key, n.vars);
}

function showSettingsNotice(key, vars = {}, code = null) {
  state.settingsNotice = { key, vars, code, until: Date.now() + 6000 };
  renderSettingsNotice();
}

function renderSettingsNotice() {
  const n = state.settingsNotice;
  if (!n || Date.now() > n.until) { state.settingsNotice = null; ui.settingsStatus.hidden = true; return; }
  ui.settingsStatus.hidden = false;
  ui.settingsStatus.dataset.kind = n.code ? 'error' : 'ack-approved';
  ui.settingsStatus.textContent = t(n.key, n.vars);
}

// ---------- settings ----------

function fillSettings() {
  const s = state.settings || {};
  ui.setHold.checked = !!s.hold_for_review;
  ui.setSlow.value = Number.isFinite(Number(s.slow_mode_seconds)) ? String(s.slow_mode_seconds) : '0';
  ui.setMaxlen.value = Number.isFinite(Number(s.max_length)) ? String(s.max_length) : '500';
  ui.setBlocked.value = Array.isArray(s.blocked_words) ? s.blocked_words.join('\n') : '';
  ui.setAction.value = s.blocked_action === 'reject' ? 'reject' : 'hold';
}

ui.settingsForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const slow = Math.max(0, Math.floor(Number(ui.setSlow.value) || 0));
  const maxLength = Math.max(1, Math.floor(Number(ui.setMaxlen.value) || 500));
  const words = [...new Set(ui.setBlocked.value.split('\n').map((w) => w.trim()).filter(Boolean))];
  sendOp({
    type: 'settings',
    hold_for_review: ui.setHold.checked,
    slow_mode_seconds: slow,
    max_length: maxLength,
    blocked_words: words,
    blocked_action: ui.setAction.value === 'reject' ? 'reject' : 'hold',
  });
});

// ---------- broadcast (video pipeline) ----------

// `pipeline` message, about once a second (state "off": the server runs without video).
function onPipeline(msg) {
  state.pipeline = msg;
  state.pipelineAt = Date.now();
  renderBroadcast();
  programMonitor.update(msg);
}

// The preview is the program itself (WHEP, else HLS: assets/monitor.js); the
// overlay page over a gradient remains only while there is no picture.
const programMonitor = new ProgramMonitor($('#program-monitor'), {
  onState({ source, state: s }) {
    const preview = $('#program-monitor').closest('.preview');
    preview.dataset.source = s === 'playing' ? source : 'none';
    const label = $('#monitor-source');
    label.hidden = s !== 'playing';
    label.textContent = source === 'whep' ? t('monitor_whep') : t('monitor_hls');
  },
});

function num(v) {
  const n = Number(v);
  return v !== null && v !== undefined && v !== '' && Number.isFinite(n) ? n : null;
}

function setStat(node, value, text) {
  node.textContent = value === null ? '—' : text;
  if (value === null) delete node.dataset.value; else node.dataset.value = String(value);
}

function renderBroadcast() {
  const p = state.pipeline;
  ui.bc.hidden = !p;
  if (!p) return;
  const st = BC_STATES.includes(p.state) ? p.state : 'unknown';
  ui.bc.dataset.state = st;
  ui.bcState.dataset.state = st;
  const restarts = num(p.restarts);
  ui.bcState.textContent = (st === 'unknown' ? String(p.state || '?') : t(`bc_state_${st}`)) +
    (restarts ? ` · ${tn('bc_restarts', restarts)}` : '');
  const off = st === 'off';
  ui.bcOff.hidden = !off;
  ui.bcDetails.hidden = off;

  const err = typeof p.error === 'string' ? p.error.trim() : '';
  ui.bcError.hidden = st !== 'error';
  if (st === 'error') ui.bcError.textContent = err ? t('bc_error', { error: err }) : t('bc_error_plain');
  ui.bcLastError.hidden = off || st === 'error' || !err;
  ui.bcLastError.textContent = ui.bcLastError.hidden ? '' : t('bc_last_error', { error: err });
  renderBroadcastStale();
  if (off) return;

  const live = !!p.source_live;
  ui.bcInput.dataset.live = live ? 'true' : 'false';
  ui.bcInput.textContent = t(live ? 'bc_input_live' : 'bc_input_slate');

  const fps = num(p.fps);
  setStat(ui.bcFps, fps, fps === null ? '' : fmtDecimal(fps, 1));
  const dropped = num(p.dropped);
  setStat(ui.bcDropped, dropped, dropped === null ? '' : fmtNumber(dropped));
  ui.bcDropped.dataset.nonzero = dropped ? 'true' : 'false';
  const frames = num(p.frames);
  ui.bcFrames.textContent = frames === null ? '' : t('bc_of_frames', { n: fmtNumber(frames) });
  const kbps = num(p.kbps);
  setStat(ui.bcBitrate, kbps, kbps === null ? '' : t('bc_kbps', { n: fmtNumber(Math.round(kbps)) }));
  const latency = num(p.hls_latency_ms);
  setStat(ui.bcLatency, latency && latency > 0 ? latency : null, latency ? t('bc_seconds', { n: fmtDecimal(latency / 1000, 1) }) : '');
  const segments = num(p.hls_segments);
  ui.bcSegments.textContent = segments === null ? '' : t('bc_segments', { n: fmtNumber(segments) });

  const rec = typeof p.recording === 'string' ? p.recording.trim() : '';
  ui.bcRecording.dataset.recording = rec ? 'true' : 'false';
  // The file name only: where the server keeps its files is not the producer's business.
  const recName = rec.split(/[\\/]/).pop();
  ui.bcRecording.replaceChildren(rec ? el('bdi', { dir: 'ltr', class: 'bc-path', text: recName }) : t('bc_not_recording'));

  renderRestreams(Array.isArray(p.restreams) ? p.restreams : []);
}

function renderRestreams(list) {
  const key = JSON.stringify(list);
  if (key === state.restreamsKey) return; // unchanged: keep the nodes (and any text selection)
  state.restreamsKey = key;
  ui.bcRestreams.replaceChildren(...list.filter((r) => r && typeof r === 'object').map((r) => {
    const rs = BC_RESTREAM_STATES.includes(r.state) ? r.state : 'unknown';
    const reconnects = num(r.reconnects);
    const error = typeof r.error === 'string' ? r.error.trim() : '';
    return el('li', { class: 'bc-restream', dataset: { state: rs } },
      el('span', { class: 'bc-rs-state', text: rs === 'unknown' ? String(r.state || '?') : t(`bc_rs_${rs}`) }),
      el('bdi', { class: 'bc-rs-url', dir: 'ltr', text: String(r.url || '') }),
      reconnects ? el('span', { class: 'bc-sub', text: t('bc_reconnects', { n: fmtNumber(reconnects) }) }) : null,
      error ? el('p', { class: 'bc-rs-error', dir: 'auto', text: error }) : null);
  }));
  ui.bcRestreamsEmpty.hidden = ui.bcRestreams.children.length > 0;
}

// No `pipeline` for a while (server busy or the link is down): say so.
function renderBroadcastStale() {
  if (!state.pipeline) return;
  const age = Date.now() - state.pipelineAt;
  const stale = age > BC_STALE_MS;
  ui.bc.dataset.stale = stale ? 'true' : 'false';
  ui.bcStale.hidden = !stale;
  ui.bcStale.textContent = stale ? t('bc_stale', { s: fmtNumber(Math.floor(age / 1000)) }) : '';
}

// ---------- on air ----------

function onAirButton(action, primary) {
  const key = keyFor(action, 'approved');
  return el('button', {
    class: `btn btn-small${primary ? ' btn-air' : ''}`, type: 'button', dataset: { action },
    title: key ? `${t(`action_${action}_title`)} (${key.label})` : t(`action_${action}_title`),
  },
  el('span', { class: 'action-label', text: t(`action_${action}`) }),
  key ? el('kbd', { text: key.label }) : null);
}

function onScreenIds() {
  const list = state.onair && Array.isArray(state.onair.comments) ? state.onair.comments : [];
  return new Set(list.map((c) => Number(c.id)));
}

// `overlay` message (or the snapshot's `overlay`): {type, state, version}.
function onOverlay(msg) {
  const s = msg && typeof msg.state === 'object' && msg.state ? msg.state : (msg && Array.isArray(msg.comments) ? msg : null);
  if (!s) return;
  state.onair = s;
  state.onairVersion = msg.version ?? null;
  renderOnAir();
  renderOnAirForms();
  const ids = onScreenIds();
  for (const [id, node] of state.approvedNodes) node.dataset.onair = ids.has(id) ? 'true' : 'false';
}

// `rotation` message (or the snapshot's `rotation`): {items:[{id,author,text,seconds}], until}.
function onRotation(msg) {
  const items = msg && Array.isArray(msg.items) ? msg.items : [];
  const until = msg && Number.isFinite(Number(msg.until)) && msg.until !== null ? Number(msg.until) : null;
  state.rotation = { items, until };
  renderRotation();
}

function sourceBadge(source) {
  return typeof source === 'string' && source && source !== 'web'
    ? el('span', { class: 'onair-source', text: t('onair_via', { source: sourceLabel(source) }) }) : null;
}

function onAirItem(c, extra = null) {
  return el('li', { class: 'onair-item', dataset: { id: c.id } },
    el('div', { class: 'comment-meta' },
      el('bdi', { class: c.author ? 'comment-name' : 'comment-name is-anon', text: c.author || t('anonymous') }),
      sourceBadge(c.source),
      extra),
    el('p', { class: 'comment-text', dir: dirOf(c.dir), text: c.text || '' }));
}

function renderOnAir() {
  const s = state.onair || {};
  const comments = Array.isArray(s.comments) ? s.comments : [];
  ui.onair.dataset.count = String(comments.length);
  ui.onairCount.dataset.count = String(comments.length);
  ui.onairCount.textContent = comments.length ? tn('onair_count', comments.length) : t('onair_count_none');
  // Each comment on screen can leave it alone (the others stay; it stays approved).
  ui.onairNow.replaceChildren(...comments.map((c) => onAirItem(c, el('button', {
    class: 'btn btn-small onair-unair', type: 'button', dataset: { action: 'unair' }, title: t('action_unair_title'),
  }, el('span', { class: 'action-label', text: t('action_unair') })))));
  ui.onairNowEmpty.hidden = comments.length > 0;
  const extras = [];
  const lt = s.lower_third;
  if (lt && typeof lt === 'object') {
    const parts = [lt.name_ar, lt.title_ar, lt.name_en, lt.title_en].filter((v) => typeof v === 'string' && v.trim());
    if (parts.length) {
      const bits = parts.flatMap((p, i) => (i ? [' · ', el('bdi', { text: p })] : [el('bdi', { text: p })]));
      extras.push(el('span', { class: 'onair-extra', dataset: { kind: 'lower-third' } }, t('onair_lower_third', { text: '' }), ...bits));
    }
  }
  if (typeof s.ticker === 'string' && s.ticker.trim()) {
    extras.push(el('span', { class: 'onair-extra', dataset: { kind: 'ticker' } }, t('onair_ticker', { text: '' }), el('bdi', { text: s.ticker })));
  }
  ui.onairExtras.replaceChildren(...extras);
  ui.onairExtras.hidden = extras.length === 0;
}

function renderRotation() {
  const { items } = state.rotation;
  ui.rotation.replaceChildren(...items.map((c) => onAirItem(c,
    el('span', { class: 'rotation-seconds', dir: 'auto', text: t('rotation_item_seconds', { s: fmtNumber(Number(c.seconds) || 0) }) }))));
  ui.rotationEmpty.hidden = items.length > 0;
  renderRotationUntil();
}

function renderRotationUntil() {
  const { items, until } = state.rotation;
  if (!until) { ui.rotationUntil.textContent = ''; return; }
  const s = fmtNumber(Math.max(0, Math.ceil((until - Date.now()) / 1000)));
  ui.rotationUntil.textContent = t(items.length ? 'rotation_next_in' : 'rotation_ends_in', { s });
}

// Fills the lower-third, ticker and theme forms from what is on air, unless the
// producer is editing one (data-dirty) — then the form keeps their input.
function renderOnAirForms() {
  const s = state.onair;
  if (!s) return;
  if (!ui.ltForm.dataset.dirty && s.lower_third && typeof s.lower_third === 'object') {
    for (const f of LT_FIELDS) ui.ltForm.elements[f].value = typeof s.lower_third[f] === 'string' ? s.lower_third[f] : '';
  }
  if (!ui.tickerForm.dataset.dirty && typeof s.ticker === 'string' && s.ticker) ui.tickerInput.value = s.ticker;
  const th = s.theme && typeof s.theme === 'object' ? s.theme : null;
  if (!ui.themeForm.dataset.dirty && th) {
    ui.themePreset.value = THEME_PRESETS.includes(th.name) ? th.name : '';
    ui.themePosition.value = ['bottom', 'top', 'side'].includes(th.position) ? th.position : 'bottom';
    ui.themeFontSize.value = Number.isFinite(Number(th.font_size)) ? String(th.font_size) : '40';
    ui.themeMaxLines.value = Number.isFinite(Number(th.max_lines)) ? String(th.max_lines) : '3';
  }
}

function renderOnAirRole() {
  const role = state.me && state.me.role;
  ui.onairReadonly.hidden = !role || role === 'producer';
  ui.onair.dataset.role = role || '';
}

function showOnAirNotice(key, vars = {}, code = null) {
  state.onairNotice = { key, vars, code, until: Date.now() + 8000 };
  renderOnAirNotice();
}

function renderOnAirNotice() {
  const n = state.onairNotice;
  if (!n || Date.now() > n.until) { state.onairNotice = null; ui.onairNotice.hidden = true; return; }
  ui.onairNotice.hidden = false;
  ui.onairNotice.dataset.kind = 'error';
  if (n.code) ui.onairNotice.dataset.code = n.code; else delete ui.onairNotice.dataset.code;
  ui.onairNotice.textContent = t(n.key, n.vars);
}

function onOnAirError(entry, code, message) {
  const known = ['conflict', 'forbidden', 'not_found', 'invalid', 'busy'];
  let key = known.includes(code) ? `onair_${code}` : 'onair_unknown';
  if (code === 'conflict' && entry.action === 'queue_air' && /full/i.test(message || '')) key = 'rotation_full';
  showOnAirNotice(key, { code, message: message || code }, code);
  // Also next to the comment it was about, which may be far from the panel.
  const node = entry.id !== null && entry.id !== undefined ? state.approvedNodes.get(entry.id) : null;
  if (node) {
    node.querySelector('.item-notice')?.remove();
    const p = el('p', { class: 'notice item-notice', role: 'alert', dataset: { kind: 'error', code }, text: t(key, { code, message: message || code }) });
    node.append(p);
    setTimeout(() => p.remove(), 8000);
  }
}

ui.onairClear.addEventListener('click', () => performScreen('clear'));
ui.onairNow.addEventListener('click', (ev) => {
  const button = ev.target.closest('button[data-action=unair]');
  const item = button && button.closest('.onair-item');
  if (!item) return;
  const id = Number(item.dataset.id);
  if (Number.isInteger(id)) sendOp({ type: 'unair', id }, id, button);
});

for (const form of [ui.ltForm, ui.tickerForm, ui.themeForm]) {
  form.addEventListener('input', () => { form.dataset.dirty = 'true'; });
}

ui.ltForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const msg = { type: 'lower_third' };
  for (const f of LT_FIELDS) msg[f] = ui.ltForm.elements[f].value.trim();
  if (LT_FIELDS.every((f) => !msg[f])) { showOnAirNotice('lt_empty', {}, 'empty'); return; }
  sendOp(msg, null, ev.submitter || null);
});
ui.ltClear.addEventListener('click', () => sendOp({ type: 'lower_third', clear: true }, null, ui.ltClear));

ui.tickerForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = ui.tickerInput.value.trim();
  if (!text) { showOnAirNotice('ticker_empty', {}, 'empty'); ui.tickerInput.focus(); return; }
  sendOp({ type: 'ticker', text }, null, ev.submitter || null);
});
ui.tickerClear.addEventListener('click', () => sendOp({ type: 'ticker', text: '' }, null, ui.tickerClear));

function submitTheme() {
  const fontSize = Number(ui.themeFontSize.value);
  const maxLines = Number(ui.themeMaxLines.value);
  if (!Number.isInteger(fontSize) || fontSize < 12 || fontSize > 160 || !Number.isInteger(maxLines) || maxLines < 1 || maxLines > 10) {
    showOnAirNotice('theme_bad', {}, 'invalid');
    return;
  }
  const msg = { type: 'theme', position: ui.themePosition.value, font_size: fontSize, max_lines: maxLines };
  const current = state.onair && state.onair.theme ? state.onair.theme.name : null;
  // A preset resets every theme field first; send it only when it changes.
  if (ui.themePreset.value && ui.themePreset.value !== current) msg.preset = ui.themePreset.value;
  // Enter in a number field fires both change and submit: send once.
  const key = JSON.stringify(msg);
  if (key === lastTheme.key && Date.now() - lastTheme.at < 1000) return;
  lastTheme = { key, at: Date.now() };
  sendOp(msg, null);
}
let lastTheme = { key: '', at: 0 };
ui.themeForm.addEventListener('submit', (ev) => { ev.preventDefault(); submitTheme(); });
// Selects and number fields apply at once (change fires on pick, Enter or leaving the field).
ui.themeForm.addEventListener('change', () => { ui.themeForm.dataset.dirty = 'true'; submitTheme(); });

// ---------- language and start ----------

function rerenderAll() {
  renderConn();
  renderSession();
  renderCounters();
  renderNotice();
  renderSettingsNotice();
  // Rebuild items for translated labels (keeps an open editor).
  for (const [id, node] of state.queueNodes) {
    const c = state.pending.get(id);
    if (c) { updateItem(node, c, false); node.dataset.rendered = renderKey(c); }
  }
  for (const node of state.approvedNodes.values()) node.dataset.rendered = '';
  renderApproved();
  renderSelection();
  renderOnAir();
  renderRotation();
  renderOnAirNotice();
  renderOnAirRole();
  state.restreamsKey = '';
  renderBroadcast();
  renderClearButton();
  if (ui.keysDialog.open) renderKeysSheet();
}

function renderClearButton() {
  const key = keyFor('clear', 'screen');
  ui.onairClear.replaceChildren(el('span', { class: 'action-label', text: t('onair_clear') }), el('kbd', { text: key.label }));
  ui.onairClear.title = `${t('action_clear')} (${key.label})`;
}

setInterval(() => {
  if (state.conn.state === 'waiting') renderConn();
  if (state.notice) renderNotice();
  if (state.settingsNotice) renderSettingsNotice();
  if (state.onairNotice) renderOnAirNotice();
  if (state.rotation.until) renderRotationUntil();
  if (state.pipeline) renderBroadcastStale();
}, 500);

onLangChange(rerenderAll);
rerenderAll();
auth = setupLogin({ onReady: showStudio, onLoggedOut: hideStudio });
