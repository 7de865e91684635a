// The studio's "Bridges" panel (issue 14): each platform bridge's state
// from GET /api/v1/bridges, every 5 s while the studio is signed in —
// connected / backoff / error / ended / listening, the polling interval,
// comments in, duplicates, refusals and the last error. Names and errors
// come from the server and go through textContent only (dom.js el()).
import { t, addStrings, onLangChange, fmtNumber, sourceLabel } from './i18n.js';
import { el, $ } from './dom.js';
import { api } from './shell.js';

addStrings({
  ar: {
    bridges_title: 'القنوات',
    bridge_state_starting: 'يبدأ', bridge_state_connected: 'متصل', bridge_state_backoff: 'إعادة المحاولة',
    bridge_state_error: 'خطأ', bridge_state_ended: 'انتهى', bridge_state_listening: 'ينتظر الرسائل',
    bridge_every: 'كل {s} ث',
    bridge_counts: 'وارد {in} · مكرر {dup} · مرفوض {refused}',
    bridge_last_error: 'آخر خطأ: {m}',
  },
  en: {
    bridges_title: 'Channels',
    bridge_state_starting: 'Starting', bridge_state_connected: 'Connected', bridge_state_backoff: 'Retrying',
    bridge_state_error: 'Error', bridge_state_ended: 'Ended', bridge_state_listening: 'Listening',
    bridge_every: 'every {s} s',
    bridge_counts: 'in {in} · duplicates {dup} · refused {refused}',
    bridge_last_error: 'Last error: {m}',
  },
});

const POLL_MS = 5000;
const STATES = ['starting', 'connected', 'backoff', 'error', 'ended', 'listening'];
const root = $('#bridges');
let bridges = [];

function render() {
  if (!root) return;
  root.hidden = bridges.length === 0;
  $('#bridges-title', root).textContent = t('bridges_title');
  const list = $('#bridges-list', root);
  list.replaceChildren();
  for (const b of bridges) {
    const state = STATES.includes(b.state) ? b.state : 'starting';
    const name = b.name === b.kind ? sourceLabel(b.kind) : `${b.name} (${sourceLabel(b.kind)})`;
    const line = el('div', { class: 'bridge-line' },
      el('strong', { class: 'bridge-name', text: name }),
      el('span', { class: 'badge-inline bridge-state', dataset: { state }, role: 'status', text: t(`bridge_state_${state}`) }),
      b.kind !== 'webhook' && b.poll_interval_ms > 0
        ? el('span', { class: 'hint', text: t('bridge_every', { s: fmtNumber(Math.round(b.poll_interval_ms / 100) / 10) }) })
        : null);
    const counts = el('div', { class: 'hint bridge-counts',
      text: t('bridge_counts', { in: fmtNumber(b.comments_in), dup: fmtNumber(b.duplicates), refused: fmtNumber(b.refused) }) });
    const error = b.last_error ? el('div', { class: 'hint bridge-error', dir: 'auto', text: t('bridge_last_error', { m: b.last_error }) }) : null;
    list.append(el('li', { class: 'bridge-item', dataset: { bridge: b.name, state, in: b.comments_in, refused: b.refused } }, line, counts, error));
  }
}

async function refresh() {
  const studio = $('#studio');
  if (!studio || studio.dataset.state !== 'ready') return;
  const res = await api('GET', '/api/v1/bridges').catch(() => null);
  if (!res || !res.ok || !res.data || !Array.isArray(res.data.bridges)) return;
  bridges = res.data.bridges;
  render();
}

if (root) {
  onLangChange(render);
  render();
  refresh();
  setInterval(refresh, POLL_MS);
  const studio = $('#studio');
  if (studio) new MutationObserver(refresh).observe(studio, { attributes: true, attributeFilter: ['data-state'] });
}
