#!/usr/bin/env node
// Browser end-to-end test of the archive: viewers comment in Arabic, a
// producer approves, viewers vote, the session ends; an archivist logs in on
// /archive, sees the session in the list with its figures, finds a comment
// by searching a name written without its hamza (and with diacritics), sees
// bars in the comments-per-minute chart, downloads the CSV export (UTF-8
// BOM first), and opens the decision report, which shows the top question.
// Zero CSP violations, no uncaught page errors.
//
//   node tests/e2e/archive.mjs path/to/sabla
//
// Exit code 0 = pass. Always stops by itself (hard timeout 120 s), killing
// the server and removing its temp data dir, also on failure.
import fs from 'node:fs';
import { Harness, loginStudio, ensureLiveSession, postViewerComments, approveInStudio, voteFromNewViewers } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'archive', hardTimeoutMs: 120_000 });

const TOP = 'متى يكتمل طريق الساحل يا أحمد؟';           // the most voted question (hamza on the alef)
const OTHER = 'نطالب بزيادة ميزانية المدارس في الولاية';
const PENDING = 'تعليق ينتظر المراجعة';
const SEARCH_PLAIN = 'احمد';                              // no hamza
const SEARCH_MARKED = 'أَحْمَد';                          // hamza and diacritics

async function main() {
  const { base, passwords } = await h.startServer(binary, {
    users: [{ name: 'producer', role: 'producer' }, { name: 'nura', role: 'archivist' }],
  });
  h.assert(!!passwords.nura, 'archivist "nura" created with sabla user add before the server started');
  await h.launch();

  // --- a session with comments, decisions and votes ---
  const studio = await h.newPage('studio');
  await loginStudio(h, studio, base, passwords.producer);
  const sessionId = await ensureLiveSession(h, studio);

  const viewer = await h.newPage('viewer');
  await viewer.goto(`${base}/`);
  const acks = await postViewerComments(viewer, [TOP, OTHER, PENDING], 'مريم');
  h.assert(acks.every((a) => a.type === 'ack' && Number.isInteger(a.id)), `3 comments acknowledged (${acks.map((a) => a.status).join(', ')})`);
  const [topId, otherId, pendingId] = acks.map((a) => a.id);
  for (const id of [topId, otherId]) {
    if (acks.find((a) => a.id === id).status === 'pending') await approveInStudio(studio, id);
  }
  h.check('two comments approved in the studio');
  const votes = await voteFromNewViewers(viewer, topId, 3);
  h.assert(votes[votes.length - 1] === 3, `three viewers voted for the top question (counts ${votes.join(', ')})`);
  const oneVote = await voteFromNewViewers(viewer, otherId, 1);
  h.assert(oneVote[0] === 1, 'one viewer voted for the other question');

  const ended = await studio.evaluate(async (id) => {
    const r = await fetch(`/api/v1/sessions/${id}/end`, { method: 'POST', credentials: 'same-origin' });
    return r.status;
  }, sessionId);
  h.assert(ended >= 200 && ended < 300, `session ${sessionId} ended (HTTP ${ended})`);

  // --- the archive page ---
  const archive = await h.newPage('archive', { locale: 'ar' });
  const resp = await archive.goto(`${base}/archive`);
  h.assert(resp.status() === 200, 'GET /archive -> 200');
  h.assert(/script-src 'self'/.test(resp.headers()['content-security-policy'] || ''), 'archive page carries the CSP header');
  await archive.waitForSelector('#login-form', { state: 'visible' });
  await archive.fill('#login-name', 'nura');
  await archive.fill('#login-password', passwords.nura);
  await archive.click('#login-submit');
  const row = `#sessions-body tr[data-id="${sessionId}"]`;
  await archive.waitForSelector(row);
  const session = await studio.evaluate(async (id) => {
    const body = await (await fetch('/api/v1/sessions', { credentials: 'same-origin' })).json();
    return (Array.isArray(body) ? body : body.sessions || []).find((s) => s.id === id);
  }, sessionId);
  const title = (session && (session.title_ar || session.title_en)) || `جلسة رقم ${sessionId}`;
  const shown = (await archive.textContent(`${row} .session-name`)).trim();
  h.assert(shown === title, `session list shows session ${sessionId} by its title "${shown}"`);
  const cells = await archive.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent.trim()));
  // date, duration, peak, received, approved, aired, recordings
  h.assert(cells[3] === '3' && cells[4] === '2', `row figures: received ${cells[3]}, approved ${cells[4]}`);

  await archive.click(`${row} .session-pick`);
  await archive.waitForSelector(`#detail[data-id="${sessionId}"][data-state="ready"]`);
  h.check('session record opened');

  // Chart: an SVG with at least one bar.
  const bars = await archive.$$eval('#chart svg .bar rect', (r) => r.length);
  h.assert(bars > 0, `chart SVG has bars (${bars} rects)`);

  // Search: without the hamza, then with hamza and diacritics.
  for (const q of [SEARCH_PLAIN, SEARCH_MARKED]) {
    await archive.fill('#search-q', q);
    await archive.press('#search-q', 'Enter');
    await archive.waitForFunction((want) => {
      const items = [...document.querySelectorAll('#results .comment')];
      return items.length === 1 && items[0].dataset.id === String(want) && !document.querySelector('#results[aria-busy]');
    }, topId);
    const text = await archive.textContent(`#results .comment[data-id="${topId}"] .comment-text`);
    h.assert(text === TOP, `search "${q}" finds the comment written "أحمد" (exact text shown)`);
  }
  // Filters: status pending finds only the pending one.
  await archive.fill('#search-q', '');
  await archive.selectOption('#search-status', 'pending');
  await archive.waitForFunction((want) => {
    const items = [...document.querySelectorAll('#results .comment')];
    return items.length === 1 && items[0].dataset.id === String(want);
  }, pendingId);
  h.check('status filter "pending" lists only the pending comment');

  // Top comments: the most voted first.
  await archive.waitForSelector(`#top .comment[data-id="${topId}"]`);
  const firstTop = await archive.$eval('#top .comment', (li) => li.dataset.id);
  h.assert(firstTop === String(topId), 'top comments list the most voted question first');

  // CSV export: a real download starting with the UTF-8 BOM.
  const href = await archive.getAttribute('#exports a[data-format="csv"]', 'href');
  h.assert(href === `/api/v1/sessions/${sessionId}/export?format=csv`, `CSV link points at ${href}`);
  const formats = await archive.$$eval('#exports a[data-format]', (as) => as.map((a) => a.dataset.format));
  h.assert(formats.length === 11, `a button for every export format (${formats.join(', ')})`);
  const [download] = await Promise.all([
    archive.waitForEvent('download'),
    archive.click('#exports a[data-format="csv"]'),
  ]);
  const file = await download.path();
  const bytes = fs.readFileSync(file);
  h.assert(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf, `CSV download ${download.suggestedFilename()} starts with the UTF-8 BOM`);
  h.assert(bytes.toString('utf8').includes(TOP), 'CSV holds the Arabic comment');

  const reportHref = await archive.getAttribute('#report-link', 'href');
  h.assert(reportHref === `/report?id=${sessionId}`, `report link ${reportHref}`);

  // --- the decision report ---
  const report = await h.newPage('report', { locale: 'en' });
  // Same browser context is not needed: log in through the page's form.
  const rresp = await report.goto(`${base}/report.html?id=${sessionId}`);
  h.assert(rresp.status() === 200, 'GET /report.html -> 200');
  await report.waitForSelector('#login-form', { state: 'visible' });
  await report.fill('#login-name', 'nura');
  await report.fill('#login-password', passwords.nura);
  await report.click('#login-submit');
  await report.waitForSelector('#report[data-state="ready"]');
  const topRow = await report.textContent('#top tr:first-child .text-cell');
  h.assert(topRow.trim() === TOP, 'report lists the top question first');
  const topVotes = await report.textContent('#top tr:first-child .votes-cell');
  h.assert(topVotes.trim() === '3', 'with its 3 votes');
  const reportBars = await report.$$eval('#chart svg .bar rect', (r) => r.length);
  h.assert(reportBars > 0, 'report chart has bars');

  // The archive page's own tab can open the report with its cookie too.
  await archive.goto(`${base}/report.html?id=${sessionId}`);
  await archive.waitForSelector('#report[data-state="ready"]');
  h.assert((await archive.textContent('#top tr:first-child .text-cell')).trim() === TOP, 'report opens logged in from the archive tab');

  await h.assertCleanPages({ studio, viewer, archive, report });
}

h.run(main, 'archive lists the session, searches Arabic across hamza forms, charts, exports CSV with BOM, reports the top question');
