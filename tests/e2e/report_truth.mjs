#!/usr/bin/env node
// Browser test of the decision report and the archive while a session is
// still live — the two defects of issue 17 and the rejection reasons:
//
//  - a comment put on air and never taken off is listed in the report as
//    still on air (no made-up end: before the fix it "ended" at the last
//    on-air event or 8 s after it began), and the archive chart draws its
//    band open to now;
//  - "Top questions by votes" lists only approved comments: not the hidden
//    one with the most votes, not the rejected or pending ones.
//
//   node tests/e2e/report_truth.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import {
  Harness, loginStudio, ensureLiveSession, postViewerComments, approveInStudio, voteFromNewViewers,
} from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'report-truth', hardTimeoutMs: 90_000 });

const ON_AIR = 'متى يكتمل طريق الساحل؟';
const SECOND = 'نطالب بزيادة ميزانية المدارس';
const HIDDEN = 'تعليق أُخفي بعد أن أيّده كثيرون';
const REJECTED = 'تعليق مرفوض';
const PENDING = 'تعليق ما زال بانتظار المراجعة';

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

  // --- once taken off and the session ended, the period has its end ---
  await studio.click('#onair-clear');
  await studio.waitForSelector(`#onair-now [data-id="${airId}"]`, { state: 'detached' });
  await report.reload();
  await report.waitForSelector('#report[data-state="ready"]');
  h.assert(await report.getAttribute(row, 'data-on-air-now') === 'false', 'cleared: no longer on air, with an end time');

  await h.assertCleanPages({ studio, viewer, report, archive });
}

h.run(main, 'report and archive tell the truth while live: open on-air period runs to now, top questions approved only');
