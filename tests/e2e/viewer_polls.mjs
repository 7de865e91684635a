#!/usr/bin/env node
// Browser test of a live poll (issue 13) on the viewer page and on /overlay,
// against a real server:
//
//  - a producer creates and opens a poll (from an in-page studio socket);
//    the viewer page shows it with one button per option, question and
//    labels as text (a markup-looking question shows literally, nothing runs);
//  - a click votes; the page marks the viewer's choice and, the results
//    being live, shows percentages and the total; a second click changes it;
//  - an after_close poll shows no counts until it is closed;
//  - closed, the buttons are disabled; put on air, /overlay draws the poll;
//  - an outcome on the viewer's own comment shows beside it (now and after a
//    reload), and on the public /decisions page.
//
//   node tests/e2e/viewer_polls.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import { Harness, loginStudio, ensureLiveSession, openControl, control } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'viewer-polls', hardTimeoutMs: 90_000 });

const QUESTION = 'ما أولوية الميزانية؟ <img src=x onerror="window.__xss=1">';

async function main() {
  const { base, password } = await h.startServer(binary);
  await h.launch();
  const studio = await h.newPage('studio');
  await loginStudio(h, studio, base, password);
  await ensureLiveSession(h, studio);
  await openControl(studio);

  const created = await control(studio, {
    type: 'poll_create', question_ar: QUESTION, question_en: 'Budget priority?',
    options: [{ ar: 'الطرق', en: 'Roads' }, { ar: 'المدارس', en: 'Schools' }, { ar: 'الصحة', en: 'Health' }],
  });
  h.assert(created.type === 'ok' && created.poll && created.poll.status === 'draft', 'poll_create -> ok with a draft poll');
  const id = created.poll.id;
  const later = (await control(studio, {
    type: 'poll_create', question_en: 'Second question', question_ar: 'سؤال ثان', results: 'after_close',
    options: [{ ar: 'نعم', en: 'Yes' }, { ar: 'لا', en: 'No' }],
  })).poll.id;

  const viewer = await h.newPage('viewer', { width: 1366, height: 768 });
  await viewer.goto(`${base}/`);
  await viewer.waitForSelector('#conn[data-state="open"]');
  h.assert(await viewer.isHidden('#polls-panel'), 'no poll panel while the polls are drafts');

  h.assert((await control(studio, { type: 'poll_open', id })).type === 'ok', 'poll_open -> ok');
  h.assert((await control(studio, { type: 'poll_open', id: later })).type === 'ok', 'second poll opened');
  const poll = `#polls-panel .poll[data-poll="${id}"]`;
  await viewer.waitForSelector(`${poll}[data-status="open"]`);
  h.assert((await viewer.textContent(`${poll} .poll-question`)) === QUESTION, 'the question shows as text, markup and all');
  h.assert(await viewer.$$eval(`${poll} .poll-question img`, (n) => n.length) === 0, 'no element was made from the question');
  const labels = await viewer.$$eval(`${poll} .poll-choice`, (b) => b.map((x) => x.textContent));
  h.assert(JSON.stringify(labels) === JSON.stringify(['الطرق', 'المدارس', 'الصحة']), 'one button per option, in Arabic');

  await viewer.click(`${poll} .poll-option[data-index="1"] .poll-choice`);
  await viewer.waitForSelector(`${poll} .poll-option[data-index="1"][data-mine="true"]`);
  await viewer.waitForFunction((sel) => {
    const pct = document.querySelector(`${sel} .poll-option[data-index="1"] .poll-pct`);
    return pct && pct.textContent === '100%';
  }, poll);
  h.assert((await viewer.textContent(`${poll} .poll-foot`)).includes('عدد الأصوات: 1'), 'live results: 100% and the total');

  await viewer.click(`${poll} .poll-option[data-index="2"] .poll-choice`);
  await viewer.waitForSelector(`${poll} .poll-option[data-index="2"][data-mine="true"]`);
  await viewer.waitForFunction((sel) => {
    const pct = document.querySelector(`${sel} .poll-option[data-index="1"] .poll-pct`);
    return pct && pct.textContent === '0%';
  }, poll);
  h.assert(await viewer.$eval(`${poll} .poll-option[data-index="1"]`, (n) => n.dataset.mine) === 'false',
    'a second click changes the vote: the last one counts');

  const second = `#polls-panel .poll[data-poll="${later}"]`;
  await viewer.click(`${second} .poll-option[data-index="0"] .poll-choice`);
  await viewer.waitForSelector(`${second} .poll-option[data-index="0"][data-mine="true"]`);
  h.assert(await viewer.$$eval(`${second} .poll-pct`, (n) => n.length) === 0, 'after_close: no counts while open');
  h.assert((await control(studio, { type: 'poll_close', id: later })).type === 'ok', 'second poll closed');
  await viewer.waitForSelector(`${second}[data-status="closed"] .poll-pct`);
  h.assert(await viewer.$eval(`${second} .poll-choice`, (b) => b.disabled), 'closed: the buttons are disabled');

  // --- on air: /overlay draws the poll ---
  const overlay = await h.newPage('overlay', { width: 1280, height: 720 });
  await overlay.goto(`${base}/overlay`);
  h.assert((await control(studio, { type: 'poll_air', id, on: true })).type === 'ok', 'poll_air on -> ok');
  await overlay.waitForFunction((q) => {
    const n = document.querySelector('#poll[data-on="true"] .poll-question');
    return n && n.textContent === q;
  }, QUESTION);
  h.assert(await overlay.$$eval('img', (n) => n.length) === 0, 'the overlay shows the question as text');
  h.assert(await viewer.evaluate(() => window.__xss === undefined) && await overlay.evaluate(() => window.__xss === undefined),
    'nothing ran on either page');
  h.assert((await control(studio, { type: 'poll_air', id, on: false })).type === 'ok', 'poll_air off -> ok');
  await overlay.waitForSelector('#poll[data-on="false"]', { state: 'attached' });
  h.check('the poll left the overlay');

  // --- the author sees management's response beside their comment ---
  await viewer.fill('#comment-text', 'متى يفتح المستشفى الجديد؟');
  await viewer.click('#send');
  await viewer.waitForSelector('#mine li[data-state="pending"][data-id]:not([data-id=""])');
  const mineId = Number(await viewer.getAttribute('#mine li[data-state="pending"]', 'data-id'));
  h.assert((await control(studio, { type: 'approve', id: mineId })).type === 'ok', `comment ${mineId} approved`);
  const rec = await control(studio, { type: 'outcome', id: mineId, status: 'accepted', note_ar: 'يفتح في مارس' });
  h.assert(rec.type === 'ok', 'outcome recorded');
  await viewer.waitForSelector(`#mine [data-id="${mineId}"] .mine-outcome[data-status="accepted"]`);
  h.assert((await viewer.textContent(`#mine [data-id="${mineId}"] .mine-outcome`)).includes('يفتح في مارس'),
    'the author sees the outcome and its note beside the comment');
  await viewer.reload();
  await viewer.waitForSelector(`#mine [data-id="${mineId}"] .mine-outcome[data-status="accepted"]`);
  h.check('and again after a reload (from the welcome)');
  const decisions = await h.newPage('decisions', { width: 1280, height: 900 });
  await decisions.goto(`${base}/decisions`);
  await decisions.waitForSelector(`#decisions .decision[data-id="${mineId}"][data-status="accepted"]`);
  h.assert((await decisions.textContent(`#decisions .decision[data-id="${mineId}"] .decision-note`)) === 'يفتح في مارس',
    '/decisions shows the question with its status and note, without a login');

  await h.assertCleanPages({ studio, viewer, overlay, decisions });
}

h.run(main, 'viewer page votes in a live poll; /overlay draws it; the author and /decisions show the outcome');
