// The studio's "from opinions to decisions" panels (issue 13), beside the
// desk that studio.js drives:
//   - Polls: create (2–6 options, Arabic and English), open, close, reopen,
//     delete drafts, put on air / take off; live counts.
//   - Similar questions: each waiting comment next to the earlier ones that
//     say nearly the same ("similar" from the server), with Merge into…;
//     merged groups with Unmerge.
//   - Outcomes: management's response on an approved comment.
// It keeps its own studio socket (same login cookie), so studio.js needs no
// changes; every user text goes through textContent (dom.js el()).
import { t, addStrings, getLang, fmtNumber } from './i18n.js';
import { el, $, dirOf } from './dom.js';
import { ReconnectingSocket, wsUrl } from './ws.js';

addStrings({
  ar: {
    decide_polls: 'الاستطلاعات',
    decide_similar: 'أسئلة متشابهة',
    decide_outcomes: 'القرارات',
    poll_q_ar: 'السؤال (عربي)', poll_q_en: 'السؤال (إنجليزي)',
    poll_opt_ar: 'خيار {n} (عربي)', poll_opt_en: 'خيار {n} (إنجليزي)',
    poll_add_option: 'خيار آخر', poll_multiple: 'اختيار متعدد',
    poll_results: 'النتائج', poll_results_live: 'مباشرة', poll_results_after_close: 'بعد الإغلاق', poll_results_hidden: 'مخفية',
    poll_create: 'إنشاء', poll_open: 'فتح', poll_close: 'إغلاق', poll_reopen: 'إعادة فتح', poll_delete: 'حذف',
    poll_air_on: 'على الشاشة', poll_air_off: 'إزالة من الشاشة',
    poll_votes: '{n} صوت',
    similar_none: 'لا توجد تعليقات متشابهة بانتظار المراجعة.',
    similar_merge_into: 'دمج في #{id}', similar_unmerge: 'فك الدمج', similar_askers: 'سأله {n}',
    outcome_none: 'لا توجد تعليقات منشورة بعد.',
    outcome_record: 'حفظ', outcome_note_ar: 'ملاحظة (عربي)', outcome_note_en: 'ملاحظة (إنجليزي)',
    outcome_owner: 'الجهة المسؤولة', outcome_due: 'الموعد',
    decide_error: 'تعذر: {m}',
  },
  en: {
    decide_polls: 'Polls',
    decide_similar: 'Similar questions',
    decide_outcomes: 'Outcomes',
    poll_q_ar: 'Question (Arabic)', poll_q_en: 'Question (English)',
    poll_opt_ar: 'Option {n} (Arabic)', poll_opt_en: 'Option {n} (English)',
    poll_add_option: 'Another option', poll_multiple: 'Multiple choice',
    poll_results: 'Results', poll_results_live: 'Live', poll_results_after_close: 'After closing', poll_results_hidden: 'Hidden',
    poll_create: 'Create', poll_open: 'Open', poll_close: 'Close', poll_reopen: 'Reopen', poll_delete: 'Delete',
    poll_air_on: 'On air', poll_air_off: 'Off air',
    poll_votes: '{n} votes',
    similar_none: 'No similar comments are waiting.',
    similar_merge_into: 'Merge into #{id}', similar_unmerge: 'Unmerge', similar_askers: 'Asked by {n}',
    outcome_none: 'No published comments yet.',
    outcome_record: 'Save', outcome_note_ar: 'Note (Arabic)', outcome_note_en: 'Note (English)',
    outcome_owner: 'Responsible', outcome_due: 'Due',
    decide_error: 'Failed: {m}',
  },
});

const OUTCOMES = ['received', 'studying', 'accepted', 'implemented', 'declined'];
const root = $('#decide');
const state = { polls: new Map(), comments: new Map(), outcomes: new Map(), onAirPoll: null, seq: 0, options: 2 };

const socket = new ReconnectingSocket({
  url: wsUrl('/ws'),
  protocol: 'sabla.studio.v1',
  onMessage(msg) {
    for (const m of msg.type === 'batch' ? msg.items : [msg]) handle(m);
  },
});

function send(msg) { return socket.send({ ...msg, op: `decide-${++state.seq}` }); }

function comment(c) {
  if (!c || !Number.isInteger(c.id)) return;
  state.comments.set(c.id, c);
}

function handle(m) {
  switch (m.type) {
    case 'snapshot':
      state.polls.clear();
      state.comments.clear();
      for (const p of m.polls || []) state.polls.set(p.id, p);
      for (const c of [...(m.pending || []), ...(m.approved || [])]) comment(c);
      render();
      break;
    case 'poll': if (m.poll) { state.polls.set(m.poll.id, m.poll); renderPolls(); } break;
    case 'poll_deleted': state.polls.delete(m.id); renderPolls(); break;
    case 'pending': comment(m.comment); renderSimilar(); break;
    case 'updated': comment(m.comment); renderSimilar(); renderOutcomes(); break;
    case 'outcome': state.outcomes.set(m.id, m.outcome); renderOutcomes(); break;
    case 'ok':
      if (m.action === 'poll_create' && m.poll) { state.polls.set(m.poll.id, m.poll); $('#poll-form', root).reset(); renderPolls(); }
      break;
    case 'error':
      if (typeof m.op === 'string' && m.op.startsWith('decide-')) {
        const note = $('#decide-notice', root);
        note.hidden = false;
        note.textContent = t('decide_error', { m: m.message || m.code });
      }
      break;
    default: break;
  }
}

const pick = (ar, en) => (getLang() === 'en' ? en || ar : ar || en) || '';

// ---------- polls ----------

function renderPollForm() {
  const opts = $('#poll-options', root);
  opts.replaceChildren();
  for (let i = 1; i <= state.options; i++) {
    opts.append(el('div', { class: 'poll-form-row' },
      el('input', { name: `ar${i}`, dir: 'rtl', placeholder: t('poll_opt_ar', { n: i }), 'aria-label': t('poll_opt_ar', { n: i }) }),
      el('input', { name: `en${i}`, dir: 'ltr', placeholder: t('poll_opt_en', { n: i }), 'aria-label': t('poll_opt_en', { n: i }) })));
  }
}

function renderPolls() {
  const list = $('#poll-list', root);
  list.replaceChildren();
  for (const p of [...state.polls.values()].sort((a, b) => b.id - a.id)) {
    const buttons = [];
    const act = (type, key, extra = {}) => {
      const b = el('button', { class: 'btn btn-small', type: 'button', dataset: { action: type }, text: t(key) });
      b.addEventListener('click', () => send({ type, id: p.id, ...extra }));
      buttons.push(b);
    };
    if (p.status === 'draft') { act('poll_open', 'poll_open'); act('poll_delete', 'poll_delete'); }
    if (p.status === 'open') act('poll_close', 'poll_close');
    if (p.status === 'closed') act('poll_reopen', 'poll_reopen');
    if (p.status !== 'draft') {
      if (p.on_air) act('poll_air', 'poll_air_off', { on: false });
      else act('poll_air', 'poll_air_on', { on: true });
    }
    const options = el('ol', { class: 'decide-poll-options' });
    for (const o of p.options || []) {
      options.append(el('li', {}, el('span', { dir: 'auto', text: pick(o.ar, o.en) }), ' ',
        el('span', { class: 'hint', text: t('poll_votes', { n: fmtNumber(o.votes || 0) }) })));
    }
    list.append(el('li', { class: 'decide-poll', dataset: { poll: p.id, status: p.status, onAir: p.on_air ? 'true' : 'false' } },
      el('p', { class: 'decide-poll-q', dir: 'auto', text: pick(p.question_ar, p.question_en) }),
      el('p', { class: 'hint', text: `${t(`poll_status_${p.status}`)} · ${t(`poll_results_${p.results}`)} · ${t('poll_votes', { n: fmtNumber(p.total || 0) })}` }),
      options, el('div', { class: 'decide-buttons' }, ...buttons)));
  }
}

function createPoll(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const options = [];
  for (let i = 1; i <= state.options; i++) {
    const ar = String(f.get(`ar${i}`) || '').trim();
    const en = String(f.get(`en${i}`) || '').trim();
    if (ar || en) options.push({ ar, en });
  }
  send({ type: 'poll_create', question_ar: String(f.get('question_ar') || ''), question_en: String(f.get('question_en') || ''),
    options, multiple: f.get('multiple') === 'on', results: String(f.get('results') || 'live') });
}

// ---------- similar questions ----------

function renderSimilar() {
  const list = $('#similar-list', root);
  list.replaceChildren();
  const waiting = [...state.comments.values()].filter((c) => c.status === 'pending' && (c.similar || []).length);
  const heads = [...state.comments.values()].filter((c) => (c.merged || []).length);
  $('#similar-empty', root).hidden = waiting.length + heads.length > 0;
  for (const c of waiting) {
    const row = el('li', { class: 'similar-group', dataset: { id: c.id } },
      el('p', { class: 'similar-text', dir: dirOf(c.dir), text: `#${c.id} ${c.text}` }));
    for (const id of c.similar) {
      const other = state.comments.get(id);
      const b = el('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'merge', into: id }, text: t('similar_merge_into', { id }) });
      b.addEventListener('click', () => send({ type: 'merge', id: c.id, into: id }));
      row.append(el('div', { class: 'similar-pair' },
        el('span', { class: 'similar-other', dir: other ? dirOf(other.dir) : 'auto', text: other ? other.text : `#${id}` }), b));
    }
    list.append(row);
  }
  for (const h of heads) {
    const row = el('li', { class: 'similar-group', dataset: { head: h.id } },
      el('p', { class: 'similar-text', dir: dirOf(h.dir), text: `#${h.id} ${h.text}` }),
      el('p', { class: 'hint', text: t('similar_askers', { n: fmtNumber(h.askers || 1) }) }));
    for (const id of h.merged) {
      const b = el('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'unmerge', id }, text: t('similar_unmerge') });
      b.addEventListener('click', () => send({ type: 'unmerge', id }));
      row.append(el('div', { class: 'similar-pair' }, el('span', { text: `#${id}` }), b));
    }
    list.append(row);
  }
}

// ---------- outcomes ----------

function renderOutcomes() {
  const list = $('#outcome-list', root);
  list.replaceChildren();
  const approved = [...state.comments.values()].filter((c) => c.status === 'approved').sort((a, b) => b.id - a.id);
  $('#outcome-empty', root).hidden = approved.length > 0;
  for (const c of approved.slice(0, 50)) {
    const current = state.outcomes.get(c.id);
    const status = el('select', { name: 'status', 'aria-label': t('decide_outcomes') },
      ...OUTCOMES.map((s) => el('option', { value: s, text: t(`outcome_${s}`), selected: current && current.status === s })));
    const form = el('form', { class: 'outcome-form', dataset: { id: c.id } },
      el('p', { class: 'similar-text', dir: dirOf(c.dir), text: c.text }), status,
      el('input', { name: 'note_ar', dir: 'rtl', placeholder: t('outcome_note_ar'), 'aria-label': t('outcome_note_ar') }),
      el('input', { name: 'note_en', dir: 'ltr', placeholder: t('outcome_note_en'), 'aria-label': t('outcome_note_en') }),
      el('input', { name: 'owner', dir: 'auto', placeholder: t('outcome_owner'), 'aria-label': t('outcome_owner') }),
      el('input', { name: 'due', type: 'date', 'aria-label': t('outcome_due') }),
      el('button', { class: 'btn btn-small btn-primary', type: 'submit', text: t('outcome_record') }));
    if (current) {
      form.elements.note_ar.value = current.note_ar || '';
      form.elements.note_en.value = current.note_en || '';
      form.elements.owner.value = current.owner || '';
      form.elements.due.value = current.due || '';
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      send({ type: 'outcome', id: c.id, status: f.get('status'), note_ar: f.get('note_ar'), note_en: f.get('note_en'),
        owner: f.get('owner'), due: f.get('due') || '' });
    });
    list.append(el('li', { class: 'outcome-item' }, form));
  }
}

function render() { renderPollForm(); renderPolls(); renderSimilar(); renderOutcomes(); }

if (root) {
  $('#poll-form', root).addEventListener('submit', createPoll);
  $('#poll-more', root).addEventListener('click', () => { if (state.options < 6) { state.options++; renderPollForm(); } });
  render();
  // The socket waits for the sign-in studio.js runs: before it the upgrade is refused.
  const studio = $('#studio');
  const ready = () => studio && studio.dataset.state === 'ready';
  if (ready()) socket.start();
  else {
    const watch = new MutationObserver(() => { if (ready()) { watch.disconnect(); socket.start(); } });
    watch.observe(studio, { attributes: true, attributeFilter: ['data-state'] });
  }
}
