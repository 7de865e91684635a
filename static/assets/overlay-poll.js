// The poll box of the overlay page (/overlay). Same layout as the C++
// renderer's (docs/overlay-layout.md, "Poll"); geometry in overlay.css.
// Every user text goes through textContent.
//
// Test hooks: #poll[data-id][data-results], .poll-question, .poll-option
// [data-index] with .poll-label, .poll-percent, .poll-fill, .poll-footer.
import { el } from './dom.js';

// One-line text: line breaks and tabs become spaces (the renderer's rule).
function oneLine(value) {
  return (typeof value === 'string' ? value : '').replace(/\r\n|[\r\n\u2028\u2029\t]/g, ' ');
}

function count(value) {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

// overlay::poll_percent: Math.round on the same double the renderer rounds.
export function pollPercent(votes, total) {
  if (total <= 0 || votes <= 0) return 0;
  return Math.floor((100 * votes) / total + 0.5);
}

// overlay::poll_footer.
export function pollFooter(rtl, closed, total) {
  if (rtl) return `${closed ? 'النتيجة النهائية · ' : ''}عدد الأصوات: ${total}`;
  return `${closed ? 'Final result · ' : ''}Votes: ${total}`;
}

// A poll as the page draws it, or null when the state has none (or a malformed one).
export function normalizePoll(raw) {
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.options) || raw.options.length < 2) return null;
  const qAr = oneLine(raw.question_ar);
  const qEn = oneLine(raw.question_en);
  const rtl = qAr !== '';
  const results = raw.total !== undefined && raw.total !== null;
  const total = count(raw.total);
  const options = raw.options.slice(0, 6).map((o) => {
    const opt = o && typeof o === 'object' ? o : {};
    const ar = oneLine(opt.ar);
    const en = oneLine(opt.en);
    const first = rtl ? ar : en;
    return { label: first !== '' ? first : (rtl ? en : ar), votes: count(opt.votes) };
  });
  return {
    id: String(raw.id),
    rtl,
    closed: raw.status === 'closed',
    question: rtl ? qAr : qEn,
    results,
    total,
    options,
  };
}

// Fills the #poll node for `raw` (the state's "poll"); returns whether a poll is shown.
export function fillPoll(node, raw) {
  const poll = normalizePoll(raw);
  if (!poll) return false;
  const dir = poll.rtl ? 'rtl' : 'ltr';
  node.dir = dir;
  node.lang = poll.rtl ? 'ar' : 'en';
  node.dataset.id = poll.id;
  node.dataset.results = poll.results ? 'true' : 'false';
  node.dataset.status = poll.closed ? 'closed' : 'open';
  const rows = poll.options.map((o, i) => {
    const line = el('div', { class: 'poll-line' },
      el('div', { class: 'poll-label', text: o.label }),
      poll.results ? el('div', { class: 'poll-percent', text: `${pollPercent(o.votes, poll.total)}%` }) : null);
    let bar = null;
    if (poll.results) {
      const fill = el('div', { class: 'poll-fill' });
      const share = poll.total > 0 ? Math.min(1, o.votes / poll.total) : 0;
      fill.style.setProperty('width', `${share * 100}%`);
      if (share === 0) fill.hidden = true;
      bar = el('div', { class: 'poll-bar' }, fill);
    }
    return el('div', { class: 'poll-option', dataset: { index: i, votes: o.votes } }, line, bar);
  });
  const parts = [el('div', { class: 'poll-question', text: poll.question }), el('div', { class: 'poll-options' }, ...rows)];
  if (poll.results) parts.push(el('div', { class: 'poll-footer', text: pollFooter(poll.rtl, poll.closed, poll.total) }));
  node.replaceChildren(...parts);
  return true;
}
