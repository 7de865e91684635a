// Decision report (/report?id=N): one printable page for the leadership —
// session facts, the figures, the comments-per-minute chart, the top
// questions by votes with their decision, the polls with their results, the
// questions management answered with their outcome, and what was shown on
// screen, in order. Arabic or English (the language toggle); print CSS in report.css.
// Data: the archive API (see archive.js); strings, chart and login are
// shared with the archive page.
import { t, tn, onLangChange, getLang, fmtNumber, sessionTitle } from './i18n.js';
import { el, $, dirOf } from './dom.js';
import { initShell } from './shell.js';
import {
  tr, applyTr, api, errorCode, setupLogin, drawChart, chartLegend, fmtDateTime, fmtDuration, fmtOffset,
  statusLabel, sessionStatusLabel, ARCHIVE_ROLES,
} from './archive.js';

const TOP_N = 10;

const ui = {
  report: $('#report'),
  notice: $('#report-notice'),
  number: $('#report-number'),
  title: $('#report-title'),
  subtitle: $('#report-subtitle'),
  facts: $('#facts'),
  figures: $('#figures'),
  chart: $('#chart'),
  legend: $('#chart-legend'),
  top: $('#top'),
  topTable: $('#top-table'),
  topEmpty: $('#top-empty'),
  polls: $('#polls'),
  pollsEmpty: $('#polls-empty'),
  decisions: $('#decisions'),
  decisionsTable: $('#decisions-table'),
  decisionsEmpty: $('#decisions-empty'),
  aired: $('#aired'),
  airedTable: $('#aired-table'),
  airedEmpty: $('#aired-empty'),
  foot: $('#report-foot'),
  print: $('#print'),
};

const state = { me: null, session: null, timeline: null, top: null, outcomes: null, generatedAt: Date.now() };
let auth = null;

function showNotice(key, vars) {
  ui.notice.hidden = !key;
  ui.notice.textContent = key ? tr(key, vars) : '';
}

function sessionId() {
  const raw = new URLSearchParams(location.search).get('id');
  const id = Number(raw);
  return raw && Number.isSafeInteger(id) && id > 0 ? id : null;
}

async function get(path) {
  const res = await api('GET', path);
  if (res.status === 401) { auth.expired(); throw new Error('unauthorized'); }
  if (res.status === 403) { showNotice('err_forbidden'); throw new Error('forbidden'); }
  if (res.status === 404) { showNotice('report_not_found'); throw new Error('not_found'); }
  if (!res.ok || !res.data) { showNotice('err_load', { code: errorCode(res) }); throw new Error(String(res.status)); }
  return res.data;
}

async function load() {
  const id = sessionId();
  if (!id) { showNotice('report_no_id'); return; }
  ui.report.dataset.state = 'loading';
  try {
    const [list, timeline, top, outcomes] = await Promise.all([
      get('/api/v1/archive/sessions'),
      get(`/api/v1/archive/sessions/${id}/timeline`),
      get(`/api/v1/archive/sessions/${id}/top?limit=${TOP_N}`),
      get(`/api/v1/archive/sessions/${id}/outcomes`),
    ]);
    const session = (list.sessions || []).find((s) => s.id === id);
    if (!session) { showNotice('report_not_found'); return; }
    Object.assign(state, { session, timeline, top, outcomes, generatedAt: Date.now() });
  } catch { return; }
  showNotice(null);
  ui.report.hidden = false;
  render();
  ui.report.dataset.state = 'ready';
  ui.print.disabled = false;
}

function fact(key, value, { dir } = {}) {
  const shown = dir ? el('bdi', { dir, text: value }) : value;
  return el('div', { class: 'fact' }, el('dt', { text: tr(key) }), el('dd', {}, shown));
}

function figure(key, value, kind) {
  return el('div', { class: 'figure', dataset: { kind } }, el('dt', { text: tr(key) }), el('dd', { text: value }));
}

// The text in the reader's language first, the other one beside it when it
// differs (a report goes to readers of both).
function bilingual(ar, en, cls) {
  const [first, second] = getLang() === 'ar' ? [ar, en] : [en, ar];
  const main = first || second || '';
  const other = first && second && second !== first ? second : '';
  return [
    el('span', { class: cls, dir: 'auto', text: main }),
    other ? el('span', { class: `${cls} other-lang`, dir: 'auto', text: other }) : null,
  ];
}

function pollBlock(p) {
  const meta = [
    tr(`poll_status_${p.status}`),
    tn('poll_ballots', p.total || 0),
    p.opened_at_ms ? tr('poll_opened_at', { time: fmtDateTime(p.opened_at_ms) }) : null,
    p.closed_at_ms && p.status === 'closed' ? tr('poll_closed_at', { time: fmtDateTime(p.closed_at_ms) }) : null,
  ].filter(Boolean).join(' · ');
  const rows = (p.options || []).map((o, i) => {
    // The bar's length through the CSSOM: the CSP forbids style attributes.
    const bar = el('span', { class: 'poll-bar', 'aria-hidden': 'true' });
    bar.style.setProperty('--pct', `${Math.max(0, Math.min(100, Number(o.percent) || 0))}%`);
    return el('tr', { dataset: { index: i } },
      el('td', { class: 'option-cell' }, el('span', { class: 'option-labels' }, ...bilingual(o.ar, o.en, 'option-label'))),
      el('td', { class: 'num votes-cell', text: fmtNumber(o.votes || 0) }),
      el('td', { class: 'num percent-cell' }, bar,
        el('bdi', { class: 'poll-pct', dir: 'ltr', text: `${fmtNumber(o.percent || 0)}%` })));
  });
  return el('div', { class: 'report-poll', dataset: { poll: p.id, status: p.status } },
    el('h3', { class: 'poll-question' }, ...bilingual(p.question_ar, p.question_en, 'poll-q')),
    el('p', { class: 'poll-meta', text: meta }),
    el('table', { class: 'report-table poll-table' },
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: tr('col_option') }),
        el('th', { scope: 'col', class: 'num', text: tr('col_votes') }),
        el('th', { scope: 'col', class: 'num', text: tr('col_percent') }))),
      el('tbody', {}, ...rows)));
}

function decisionRow(d) {
  const note = getLang() === 'ar' ? (d.note_ar || d.note_en) : (d.note_en || d.note_ar);
  return el('tr', { dataset: { id: d.id, status: d.status } },
    el('td', { class: 'text-cell' }, el('p', { class: 'comment-text', dir: dirOf(d.dir), text: d.text }),
      el('bdi', { class: 'decision-author', text: d.author || t('anonymous') })),
    el('td', { class: 'num askers-cell', text: fmtNumber(d.askers || 1) }),
    el('td', { class: 'num votes-cell', text: fmtNumber(d.votes || 0) }),
    el('td', {}, el('span', { class: `outcome-pill oc-${d.status}`, text: tr(`outcome_${d.status}`) })),
    el('td', { class: 'note-cell', dir: 'auto', text: note || tr('none') }),
    el('td', { class: 'owner-cell', dir: 'auto', text: d.owner || tr('none') }),
    el('td', { class: 'num due-cell' }, el('bdi', { dir: 'ltr', text: d.due || tr('none') })));
}

function render() {
  const s = state.session;
  if (!s) return;
  const title = sessionTitle(s) || tr('report_session_no', { id: s.id });
  const other = getLang() === 'ar' ? s.title_en : s.title_ar;
  document.title = `${title} — ${tr('report_name')}`;
  ui.number.textContent = tr('report_session_no', { id: fmtNumber(s.id) });
  ui.title.textContent = title;
  ui.subtitle.textContent = other && other !== title ? other : '';
  ui.subtitle.hidden = !ui.subtitle.textContent;

  const recs = Array.isArray(s.recordings) ? s.recordings : [];
  ui.facts.replaceChildren(
    fact('fact_title_ar', s.title_ar || tr('none'), { dir: 'rtl' }),
    fact('fact_title_en', s.title_en || tr('none'), { dir: 'ltr' }),
    fact('fact_status', sessionStatusLabel(s.status)),
    fact('fact_live', fmtDateTime(s.live_at_ms)),
    fact('fact_ended', fmtDateTime(s.ended_at_ms)),
    fact('fact_duration', fmtDuration(s.duration_ms)),
    fact('fact_peak', fmtNumber(s.viewers_peak || 0)),
    fact('fact_retention', s.retention_days === null || s.retention_days === undefined
      ? tr('retention_forever') : tn('retention_days', s.retention_days)),
    // replaceChildren() would print a null as the text "null".
    ...(recs.length ? [fact('fact_recordings', recs.map((r) => r.name).join('، '), { dir: 'ltr' })] : []));

  ui.figures.replaceChildren(
    figure('fig_received', fmtNumber(s.received || 0), 'received'),
    figure('fig_approved', fmtNumber(s.approved || 0), 'approved'),
    figure('fig_rejected', fmtNumber(s.rejected || 0), 'rejected'),
    figure('fig_hidden', fmtNumber(s.hidden || 0), 'hidden'),
    figure('fig_aired', fmtNumber(s.aired || 0), 'aired'),
    figure('fig_peak', fmtNumber(s.viewers_peak || 0), 'peak'));

  const tl = state.timeline || {};
  if ((tl.minutes || []).length || (tl.on_air || []).length) {
    ui.chart.replaceChildren(drawChart(tl, { width: 900, height: 240 }));
  } else {
    ui.chart.replaceChildren(el('p', { class: 'empty', text: tr('chart_empty') }));
  }
  ui.legend.replaceChildren(chartLegend());

  const top = (state.top && state.top.comments) || [];
  ui.topTable.hidden = top.length === 0;
  ui.topEmpty.hidden = top.length > 0;
  ui.top.replaceChildren(...top.map((c, i) => el('tr', { dataset: { id: c.id } },
    el('td', { class: 'num rank-cell', text: fmtNumber(i + 1) }),
    el('td', { class: 'text-cell' }, el('p', { class: 'comment-text', dir: dirOf(c.dir), text: c.text })),
    el('td', { class: 'author-cell' }, el('bdi', { text: c.author || t('anonymous') })),
    el('td', { class: 'num votes-cell', text: fmtNumber(c.votes || 0) }),
    el('td', {}, el('span', { class: `status-pill st-${c.status}`, text: statusLabel(c.status) })),
    el('td', { class: 'aired-cell', text: c.aired ? tr('yes') : tr('no') }))));

  // Drafts were never put to the public: the report leaves them out.
  const polls = ((state.outcomes && state.outcomes.polls) || []).filter((p) => p.status !== 'draft');
  ui.pollsEmpty.hidden = polls.length > 0;
  ui.polls.replaceChildren(...polls.map(pollBlock));
  const decisions = (state.outcomes && state.outcomes.decisions) || [];
  ui.decisionsTable.hidden = decisions.length === 0;
  ui.decisionsEmpty.hidden = decisions.length > 0;
  ui.decisions.replaceChildren(...decisions.map(decisionRow));

  const aired = tl.on_air || [];
  ui.airedTable.hidden = aired.length === 0;
  ui.airedEmpty.hidden = aired.length > 0;
  // A comment still on screen (the session is live) has no end yet: say so
  // instead of printing a made-up one.
  ui.aired.replaceChildren(...aired.map((p) => el('tr', { dataset: { id: p.comment_id, onAirNow: p.on_air_now ? 'true' : 'false' } },
    el('td', { class: 'num time-cell' }, ...(p.on_air_now
      ? [el('bdi', { dir: 'ltr', text: `${fmtOffset(p.from_ms)} –` }), ' ', el('span', { class: 'still-on-air', text: tr('onair_still') })]
      : [el('bdi', { dir: 'ltr', text: `${fmtOffset(p.from_ms)} – ${fmtOffset(p.to_ms)}` })])),
    el('td', { class: 'author-cell' }, el('bdi', { text: p.author || t('anonymous') })),
    el('td', { class: 'text-cell' }, el('p', { class: 'comment-text', dir: dirOf(p.dir), text: p.text })))));

  ui.foot.textContent = tr('report_generated', {
    time: fmtDateTime(state.generatedAt), name: (state.me && state.me.name) || '',
  });
}

ui.print.addEventListener('click', () => window.print());

initShell();
applyTr();
document.title = `${t('app_name')} — ${tr('report_name')}`;
onLangChange(() => { applyTr(); render(); });

auth = setupLogin((me) => {
  state.me = me;
  if (me.role && !ARCHIVE_ROLES.includes(me.role)) { showNotice('err_forbidden'); return; }
  load();
}, () => {
  ui.report.hidden = true;
  ui.print.disabled = true;
});
