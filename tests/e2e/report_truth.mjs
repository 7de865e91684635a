#!/usr/bin/env node
// Browser test of the decision report and the archive while a session is
// still live — the two defects of issue 17 and the rejection reasons:
//
//  - a comment put on air and never taken off is listed in the report as
//    still on air (no made-up end: before the fix it "ended" at the last
//    on-air event or 8 s after it began), and the archive chart draws its
//    band open to now;
//  - "Top questions by votes" lists only approved comments: not the hidden
//    one with the most votes, not the rejected or pending ones;
//  - a poll the viewers voted in and the producer closed is in the report
//    with both questions, each option's votes and share, the total and its
//    times, and an answered question with its outcome (status, note,
//    responsible, due); the archive lists the poll and offers the polls and
//    decisions exports; printed, the report drops its buttons and the poll
//    table fits the page.
//
//   node tests/e2e/report_truth.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import {
  Harness, loginStudio, ensureLiveSession, postViewerComments, approveInStudio, voteFromNewViewers,
  openControl, control, pollVotesFromNewViewers,
} from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'report-truth', hardTimeoutMs: 90_000 });

const ON_AIR = 'متى يكتمل طريق الساحل؟';
const SECOND = 'نطالب بزيادة ميزانية المدارس';
const HIDDEN = 'تعليق أُخفي بعد أن أيّده كثيرون';
const REJECTED = 'تعليق مرفوض';
const PENDING = 'تعليق ما زال بانتظار المراجعة';
const POLL_AR = 'ما أولوية الميزانية؟';
const POLL_EN = 'Budget priority?';
const NOTE_AR = 'تُدرج في ميزانية العام القادم';
const OWNER = 'وزارة التربية';

async function main() {
  const { base, password } = await h.startServer(binary);
  await h.launch();
  const studio = await h.newPage('studio', { width: 1366, height: 768 });
  await loginStudio(h, studio, base, password);
  const sessionId = await ensureLiveSession(h, studio);

  const viewer = await h.newPage('viewer');
  await viewer.goto(`${base}/`);
  const acks = await postViewerComments(viewer, [ON_AIR, SECOND, HIDDEN, REJECTED, PENDING], 'مريم');
  h.assert(acks.every((a) => a.type === 'ack' && a.status === 'pending'), '5 comments await review');
  const [airId, secondId, hiddenId, rejectedId, pendingId] = acks.map((a) => a.id);
  for (const id of [airId, secondId, hiddenId]) await approveInStudio(studio, id);
  // The most upvoted comment is then hidden: it must not head the report.
  const hv = await voteFromNewViewers(viewer, hiddenId, 3);
  const av = await voteFromNewViewers(viewer, airId, 2);
  const sv = await voteFromNewViewers(viewer, secondId, 1);
  h.assert(hv.at(-1) === 3 && av.at(-1) === 2 && sv.at(-1) === 1, 'votes: hidden 3, on-air 2, second 1');
  await studio.click(`#approved [data-id="${hiddenId}"] [data-action=hide]`);
  await studio.waitForSelector(`#approved [data-id="${hiddenId}"]`, { state: 'detached' });
  await studio.click(`#queue [data-id="${rejectedId}"] [data-action=reject]`);
  await studio.waitForSelector('#reject-dialog[open]');
  await studio.click('#reject-dialog [data-dialog=ok]');
  await studio.waitForSelector(`#queue [data-id="${rejectedId}"]`, { state: 'detached' });
  h.check('one hidden after its votes, one rejected, one left pending');

  // A poll: 3 viewers vote (one changes their mind), then it is closed; the
  // second question gets an outcome.
  await openControl(studio);
  const created = await control(studio, {
    type: 'poll_create', question_ar: POLL_AR, question_en: POLL_EN,
    options: [{ ar: 'الطرق', en: 'Roads' }, { ar: 'المدارس', en: 'Schools' }, { ar: 'الصحة', en: 'Health' }],
  });
  h.assert(created.type === 'ok' && created.poll, 'poll created');
  const pollId = created.poll.id;
  h.assert((await control(studio, { type: 'poll_open', id: pollId })).type === 'ok', 'poll opened');
  const ballots = await pollVotesFromNewViewers(viewer, pollId, [[0], [1], [1]]);
  h.assert(JSON.stringify(ballots) === '[[0],[1],[1]]', `3 viewers voted (${JSON.stringify(ballots)})`);
  h.assert((await control(studio, { type: 'poll_close', id: pollId })).type === 'ok', 'poll closed');
  const outcome = await control(studio, {
    type: 'outcome', id: secondId, status: 'accepted', note_ar: NOTE_AR, note_en: 'In next year\'s budget', owner: OWNER, due: '2026-09-01',
  });
  h.assert(outcome.type === 'ok', `outcome recorded on ${secondId}`);

  const airedAt = Date.now();
  await studio.click(`#approved [data-id="${airId}"] [data-action=air]`);
  await studio.waitForSelector(`#onair-now [data-id="${airId}"]`);
  h.check('a comment is on air and stays there');

  // --- the report while the session is live ---
  const report = await h.newPage('report', { locale: 'ar' });
  await report.context().addCookies(await studio.context().cookies());
  await report.goto(`${base}/report?id=${sessionId}`);
  await report.waitForSelector('#report[data-state="ready"]');
  const row = `#aired tr[data-id="${airId}"]`;
  h.assert(await report.getAttribute(row, 'data-on-air-now') === 'true', 'the aired comment is listed as still on air');
  const cell = (await report.textContent(`${row} .time-cell`)).trim();
  h.assert(/ما زال على الشاشة$/.test(cell), `its time reads "from – still on air" ("${cell}")`);
  const period = await report.evaluate(async (id) => {
    const r = await fetch(`/api/v1/archive/sessions/${id}/timeline`, { credentials: 'same-origin' });
    return (await r.json()).on_air[0];
  }, sessionId);
  const elapsed = Date.now() - airedAt;
  h.assert(period.on_air_now === true && period.to_ms - period.from_ms <= elapsed + 1000,
    `its period runs to now (${period.to_ms - period.from_ms} ms on screen after ${elapsed} ms), not to a guessed end`);

  const top = await report.$$eval('#top tr[data-id]', (rows) => rows.map((r) => Number(r.dataset.id)));
  h.assert(JSON.stringify(top) === JSON.stringify([airId, secondId]),
    `top questions: the approved ones by votes only (${top.join(', ')}), not hidden ${hiddenId}, rejected ${rejectedId} or pending ${pendingId}`);
  const statuses = await report.$$eval('#top tr[data-id] .status-pill', (p) => p.map((x) => x.textContent.trim()));
  h.assert(statuses.every((x) => x === 'منشور'), 'each listed as published');

  // --- the poll's results and the outcome in the report ---
  h.assert(!(await report.textContent('#facts')).includes('null'), 'no stray "null" among the facts (no recordings)');
  const pollSel = `#polls .report-poll[data-poll="${pollId}"][data-status="closed"]`;
  const shown = await report.$eval(pollSel, (n) => ({
    q: [...n.querySelectorAll('.poll-q')].map((x) => x.textContent),
    meta: n.querySelector('.poll-meta').textContent,
    options: [...n.querySelectorAll('tbody tr')].map((r) => ({
      label: r.querySelector('.option-label').textContent,
      votes: r.querySelector('.votes-cell').textContent,
      pct: r.querySelector('.poll-pct').textContent,
    })),
  }));
  h.assert(JSON.stringify(shown.q) === JSON.stringify([POLL_AR, POLL_EN]), `the question in Arabic then English (${shown.q.join(' | ')})`);
  h.assert(JSON.stringify(shown.options.map((o) => [o.label, o.votes, o.pct]))
    === JSON.stringify([['الطرق', '1', '33%'], ['المدارس', '2', '67%'], ['الصحة', '0', '0%']]),
  `each option with its votes and share (${JSON.stringify(shown.options)})`);
  h.assert(shown.meta.includes('مغلق') && shown.meta.includes('3 مصوّتين') && shown.meta.includes('فُتح') && shown.meta.includes('أُغلق'),
    `status, total and opened/closed times ("${shown.meta}")`);
  const decision = `#decisions tr[data-id="${secondId}"][data-status="accepted"]`;
  const cells = await report.$eval(decision, (r) => [...r.querySelectorAll('td')].map((c) => c.textContent.trim()));
  h.assert(cells[0].startsWith(SECOND) && cells[3] === 'مقبول' && cells[4] === NOTE_AR && cells[5] === OWNER && cells[6] === '2026-09-01',
    `the answered question with its outcome, note, responsible and due (${cells.join(' | ')})`);
  h.assert(await report.$$eval('#decisions tr[data-id]', (r) => r.length) === 1, 'only the answered question is listed');
  await report.click('#lang-toggle');
  await report.waitForFunction(() => document.querySelector('#decisions tr[data-id] td:nth-child(4)').textContent === 'Accepted');
  const q = await report.$$eval(`${pollSel} .poll-q`, (n) => n.map((x) => x.textContent));
  h.assert(q[0] === POLL_EN && await report.textContent('#polls-title') === 'Poll results', 'in English: labels, and the question first in English');
  await report.click('#lang-toggle');
  await report.waitForFunction(() => document.documentElement.lang === 'ar');

  // Printed: no buttons or navigation, and the poll table fits the sheet.
  await report.emulateMedia({ media: 'print' });
  h.assert(await report.isHidden('.topbar') && await report.isHidden('#print'), 'print: navigation and buttons hidden');
  const fits = await report.$eval(pollSel, (n) => {
    const t = n.querySelector('table');
    return t.scrollWidth <= n.closest('.sheet').clientWidth + 1;
  });
  h.assert(fits, 'print: the poll table fits the sheet');
  await report.emulateMedia({ media: 'screen' });

  // --- the archive chart: the open band ---
  const archive = await h.newPage('archive', { width: 1366, height: 768 });
  await archive.context().addCookies(await studio.context().cookies());
  await archive.goto(`${base}/archive?id=${sessionId}`);
  await archive.waitForSelector(`#detail[data-id="${sessionId}"][data-state="ready"]`);
  await archive.waitForSelector('#chart svg .onair-band');
  const open = await archive.$$eval('#chart svg .onair-band[data-open="true"]', (b) => b.length);
  h.assert(open === 1, 'the archive chart marks the period as still on air');
  const archiveTop = await archive.$$eval('#top .comment', (li) => li.map((x) => Number(x.dataset.id)));
  h.assert(JSON.stringify(archiveTop) === JSON.stringify([airId, secondId]), 'the archive\'s top list agrees');
  await archive.waitForSelector(`#polls .archive-poll[data-poll="${pollId}"][data-status="closed"]`);
  const listed = await archive.$eval(`#polls .archive-poll[data-poll="${pollId}"]`, (n) => n.textContent);
  h.assert(listed.includes(POLL_AR) && listed.includes('مغلق') && listed.includes('3 مصوّتين'), `the archive lists the poll ("${listed}")`);
  for (const f of ['polls', 'polls-json', 'decisions', 'decisions-json']) {
    const href = await archive.getAttribute(`#exports a[data-format="${f}"]`, 'href');
    h.assert(href === `/api/v1/sessions/${sessionId}/export?format=${f}`, `export link ${f}`);
  }
  const pollsCsv = await archive.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).text(),
    `/api/v1/sessions/${sessionId}/export?format=polls`);
  h.assert(pollsCsv.includes(POLL_AR) && pollsCsv.includes('Schools'), 'the polls export link serves the poll');

  // --- once taken off and the session ended, the period has its end ---
  await studio.click('#onair-clear');
  await studio.waitForSelector(`#onair-now [data-id="${airId}"]`, { state: 'detached' });
  await report.reload();
  await report.waitForSelector('#report[data-state="ready"]');
  h.assert(await report.getAttribute(row, 'data-on-air-now') === 'false', 'cleared: no longer on air, with an end time');

  await h.assertCleanPages({ studio, viewer, report, archive });
}

h.run(main, 'report and archive tell the truth while live: open on-air period runs to now, top questions approved only, polls and outcomes');
