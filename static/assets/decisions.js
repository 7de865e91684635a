// The public decisions register (/decisions): a session picker, then each
// question the public asked that management answered — the question, how
// many asked it, the status, the note and the date — in Arabic and English.
// No login; it reads GET /api/v1/public/sessions[/{id}/decisions]. Every user
// text goes through textContent (dom.js el()).
import { t, addStrings, onLangChange, getLang, fmtNumber, sessionTitle } from './i18n.js';
import { el, $, dirOf } from './dom.js';
import { initShell, api } from './shell.js';

addStrings({
  ar: {
    decisions_name: 'سجل القرارات',
    decisions_session: 'الجلسة',
    decisions_empty: 'لم تُسجَّل قرارات لهذه الجلسة بعد.',
    decisions_none: 'لا توجد جلسات بعد.',
    decisions_error: 'تعذر تحميل السجل.',
    decisions_asked: { zero: 'لم يسأله أحد', one: 'سأله شخص واحد', two: 'سأله شخصان', few: 'سأله {n} أشخاص', many: 'سأله {n} شخصًا', other: 'سأله {n} شخص' },
    decisions_due: 'الموعد: {d}',
    decisions_owner: 'الجهة المسؤولة: {o}',
    decisions_updated: 'آخر تحديث: {d}',
  },
  en: {
    decisions_name: 'Decisions register',
    decisions_session: 'Session',
    decisions_empty: 'No decisions have been recorded for this session yet.',
    decisions_none: 'No sessions yet.',
    decisions_error: 'The register could not be loaded.',
    decisions_asked: { one: 'Asked by one person', other: 'Asked by {n} people' },
    decisions_due: 'Due: {d}',
    decisions_owner: 'Responsible: {o}',
    decisions_updated: 'Updated: {d}',
  },
});

const ui = { pick: $('#session-pick'), list: $('#decisions'), empty: $('#decisions-empty'),
  notice: $('#decisions-notice'), title: $('#decisions-title') };
const state = { sessions: [], current: null, doc: null };

function fmtDate(ms) {
  try {
    return new Intl.DateTimeFormat(getLang() === 'en' ? 'en-GB' : 'ar', { day: 'numeric', month: 'long', year: 'numeric' })
      .format(new Date(ms));
  } catch { return new Date(ms).toISOString().slice(0, 10); }
}

function notice(key) {
  ui.notice.hidden = !key;
  ui.notice.textContent = key ? t(key) : '';
}

function renderPicker() {
  ui.pick.replaceChildren(...state.sessions.map((s) => el('option', { value: s.id, text: sessionTitle(s) })));
  if (state.current !== null) ui.pick.value = String(state.current);
}

function render() {
  renderPicker();
  const doc = state.doc;
  ui.list.replaceChildren();
  if (!doc) { ui.title.textContent = ''; ui.empty.hidden = true; return; }
  ui.title.textContent = sessionTitle(doc.session);
  ui.empty.hidden = doc.decisions.length > 0;
  const en = getLang() === 'en';
  for (const d of doc.decisions) {
    const note = (en ? d.note_en : d.note_ar) || d.note_ar || d.note_en || '';
    const item = el('li', { class: 'card decision', dataset: { id: d.id, status: d.status } },
      el('p', { class: 'decision-text', dir: dirOf(d.dir), text: d.text }),
      el('p', { class: 'decision-meta' },
        d.author ? el('span', { class: 'decision-author', dir: 'auto', text: d.author }) : null,
        el('span', { class: 'decision-askers', text: t('decisions_asked', { n: d.askers }) })),
      el('p', { class: 'decision-status' }, el('span', { class: 'badge decision-badge', text: t(`outcome_${d.status}`) })));
    if (note) item.append(el('p', { class: 'decision-note', dir: 'auto', text: note }));
    const facts = [];
    if (d.owner) facts.push(t('decisions_owner', { o: d.owner }));
    if (d.due) facts.push(t('decisions_due', { d: d.due }));
    facts.push(t('decisions_updated', { d: fmtDate(d.updated_at_ms) }));
    item.append(el('p', { class: 'decision-facts', text: facts.join(' · ') }));
    ui.list.append(item);
  }
}

async function load(id) {
  state.current = id;
  const r = await api('GET', `/api/v1/public/sessions/${encodeURIComponent(id)}/decisions`);
  if (!r.ok || !r.data) { state.doc = null; notice('decisions_error'); render(); return; }
  notice(null);
  state.doc = r.data;
  const url = new URL(location.href);
  url.searchParams.set('session', id);
  history.replaceState(null, '', url);
  render();
}

async function main() {
  initShell();
  const r = await api('GET', '/api/v1/public/sessions');
  if (!r.ok || !r.data) { notice('decisions_error'); return; }
  state.sessions = r.data.sessions || [];
  if (!state.sessions.length) { notice('decisions_none'); return; }
  const wanted = Number(new URL(location.href).searchParams.get('session'));
  const pick = state.sessions.find((s) => s.id === wanted) || state.sessions[state.sessions.length - 1];
  ui.pick.addEventListener('change', () => load(Number(ui.pick.value)));
  await load(pick.id);
}

onLangChange(render);
main();
