#!/usr/bin/env node
// Browser end-to-end test of the on-air overlay: a viewer posts an Arabic
// comment, the producer approves it and puts it on air from the studio's
// "On air" panel; the /overlay page (1920x1080, as OBS/vMix load it) shows it
// with the exact text and dir="rtl"; the same picture drawn by the C++
// renderer (`sabla overlay render`) matches the page's screenshot (box edges
// within 6 px, the text's start edge within 12 px); ticker, lower third and
// theme from the studio reach the page; "Clear screen" takes it off. Then a
// poll made in the studio's Polls panel, voted on by three viewers and aired
// from the panel is on /overlay (question and shares as text) and its box
// matches the renderer's the same way.
//
//   node tests/e2e/overlay.mjs path/to/sabla
//
// Exit code 0 = pass. Always stops by itself (hard timeout 120 s), killing the
// server and removing its temp data dir, also on failure.
// SABLA_E2E_SKIP_RENDER=1 skips the renderer comparison (e.g. a server built
// without the `overlay render` subcommand); SABLA_E2E_KEEP=1 keeps the temp
// dirs (screenshots, state JSON, renderer output).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Harness, loginStudio, ensureLiveSession, postViewerComments, approveInStudio, pollVotesFromNewViewers, decodePng, bbox } from './harness.mjs';

const ARABIC = 'ما هي خطة تطوير الطرق في الولاية؟ 🚗';
const AUTHOR = 'مريم';
const POLL = {
  ar: 'ما أولويتك في ميزانية العام القادم؟',
  en: 'Your priority for next year\'s budget?',
  options: [['الطرق', 'Roads'], ['المدارس', 'Schools'], ['المستشفيات', 'Hospitals']],
  ballots: [[0], [0], [1]], // three viewers: two for roads, one for schools
};
const BOX_TOLERANCE = 6;
const TEXT_TOLERANCE = 12;

const h = new Harness({ tag: 'overlay', hardTimeoutMs: 120_000 });
const binary = process.argv[2];

// Waits until the overlay page shows comment `id`, fully faded in.
async function waitOnAir(overlay, id) {
  await overlay.waitForSelector(`#comments [data-id="${id}"]`);
  await overlay.waitForFunction((cid) => {
    const n = document.querySelector(`#comments [data-id="${cid}"]`);
    return n && getComputedStyle(n).opacity === '1';
  }, id);
}

// Screenshots the page (transparent), writes its window.__sablaState and has
// `sabla overlay render` draw the same state; returns both decoded images and
// the state, or null when SABLA_E2E_SKIP_RENDER is set.
async function shootAndRender(overlay, work, name, checkState) {
  const transform = await overlay.$eval('#stage', (n) => getComputedStyle(n).transform);
  h.assert(transform === 'none', `stage is unscaled at 1920x1080 (transform ${transform})`);
  const pagePng = path.join(work, `${name}-page.png`);
  await overlay.screenshot({ path: pagePng, omitBackground: true });
  const state = await overlay.evaluate(() => window.__sablaState);
  checkState(state);
  const statePath = path.join(work, `${name}-state.json`);
  fs.writeFileSync(statePath, JSON.stringify(state));
  const renderPng = path.join(work, `${name}-render.png`);

  if (process.env.SABLA_E2E_SKIP_RENDER) { h.log(`SKIPPED renderer comparison of the ${name} (SABLA_E2E_SKIP_RENDER)`); return null; }
  const r = spawnSync(binary, ['overlay', 'render', '--state', statePath, '--out', renderPng, '--width', '1920', '--height', '1080'],
    { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0 || !fs.existsSync(renderPng)) {
    throw new Error(`"sabla overlay render" failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr || r.stdout || '').trim().slice(0, 500)}`);
  }
  h.check(`sabla overlay render wrote ${name}-render.png`);
  const page = decodePng(fs.readFileSync(pagePng));
  const ren = decodePng(fs.readFileSync(renderPng));
  h.assert(page.width === 1920 && page.height === 1080, `page screenshot is 1920x1080 (${page.width}x${page.height})`);
  h.assert(ren.width === 1920 && ren.height === 1080, `renderer output is 1920x1080 (${ren.width}x${ren.height})`);
  return { page, ren, state };
}

const fmt = (b) => `[${b.left},${b.top} .. ${b.right},${b.bottom}]`;
const opaque = (r0, g0, b0, a) => a >= 128;
// Text colour (#ffffff) and accent (#c9a227) pixels.
const white = (r0, g0, b0, a) => a >= 200 && r0 >= 200 && g0 >= 200 && b0 >= 200;
const gold = (r0, g0, b0, a) => a >= 200 && r0 >= 150 && g0 >= 110 && b0 <= 110;

// Both images' boxes (everything opaque) agree within BOX_TOLERANCE on every edge.
function compareBoxes(what, page, ren) {
  const pageBox = bbox(page, opaque);
  const renBox = bbox(ren, opaque);
  h.assert(pageBox && renBox, `both images have a ${what} box`);
  h.log(`${what} box: page ${fmt(pageBox)}, renderer ${fmt(renBox)}`);
  for (const edge of ['left', 'top', 'right', 'bottom']) {
    const d = Math.abs(pageBox[edge] - renBox[edge]);
    h.assert(d <= BOX_TOLERANCE, `${what} box ${edge} edge within ${BOX_TOLERANCE} px (page ${pageBox[edge]}, renderer ${renBox[edge]}, diff ${d})`);
  }
  return { pageBox, renBox };
}

async function compareWithRenderer(overlay, work) {
  const shot = await shootAndRender(overlay, work, 'comment', (state) => {
    h.assert(state && Array.isArray(state.comments) && state.comments.length === 1 && !state.lower_third && state.ticker === null,
      'fixed state for the comparison: one comment, no lower third, no ticker');
  });
  if (!shot) return;
  const { page, ren } = shot;
  const { pageBox, renBox } = compareBoxes('comment', page, ren);

  // Text colour (#ffffff) pixels inside the box: the comment text. The author is
  // in the accent colour (#c9a227), the emoji is at the end (left) of the line.
  const pageText = bbox(page, white, pageBox);
  const renText = bbox(ren, white, renBox);
  h.assert(pageText && renText, 'both images show comment text');
  h.log(`text: page ${fmt(pageText)}, renderer ${fmt(renText)}`);
  const dStart = Math.abs(pageText.right - renText.right);
  h.assert(dStart <= TEXT_TOLERANCE, `text start (right) edge within ${TEXT_TOLERANCE} px (page ${pageText.right}, renderer ${renText.right}, diff ${dStart})`);
  const dTop = Math.abs(pageText.top - renText.top);
  h.assert(dTop <= TEXT_TOLERANCE, `text top edge within ${TEXT_TOLERANCE} px (page ${pageText.top}, renderer ${renText.top}, diff ${dTop})`);
  h.assert(pageText.right > (pageBox.left + pageBox.right) / 2, 'the Arabic text starts on the right half of the box (RTL)');

  const pageAuthor = bbox(page, gold, pageBox);
  const renAuthor = bbox(ren, gold, renBox);
  if (pageAuthor && renAuthor) {
    const d = Math.abs(pageAuthor.right - renAuthor.right);
    h.assert(d <= TEXT_TOLERANCE, `author start (right) edge within ${TEXT_TOLERANCE} px (page ${pageAuthor.right}, renderer ${renAuthor.right}, diff ${d})`);
  } else {
    h.log('author line not found in one of the images (anonymous comment?)');
  }
}

// The producer fills the Polls panel's form (Arabic and English question, three
// options), creates and opens the poll, three viewers vote, the producer puts
// its results on air with the panel's button; /overlay shows the question and
// each option's share as text, and its poll box matches the renderer's.
async function airPollFromStudio(studio, overlay, viewer, work) {
  const started = Date.now();
  const form = '#poll-form';
  await studio.fill(`${form} input[name=question_ar]`, POLL.ar);
  await studio.fill(`${form} input[name=question_en]`, POLL.en);
  while (await studio.$$eval('#poll-options .poll-form-row', (r) => r.length) < POLL.options.length) await studio.click('#poll-more');
  for (const [i, [ar, en]] of POLL.options.entries()) {
    await studio.fill(`#poll-options input[name=ar${i + 1}]`, ar);
    await studio.fill(`#poll-options input[name=en${i + 1}]`, en);
  }
  h.assert(await studio.$eval(`${form} select[name=results]`, (n) => n.value) === 'live', 'the form creates polls with live results by default');
  await studio.click(`${form} button[type=submit]`);
  const item = await studio.waitForSelector('#poll-list .decide-poll[data-status="draft"]');
  h.assert(await item.$eval('.decide-poll-q', (n) => n.textContent) === POLL.ar, 'the Polls panel lists the new draft poll with its Arabic question');
  const pollId = Number(await item.getAttribute('data-poll'));
  h.assert(Number.isInteger(pollId) && pollId > 0, `poll ${pollId} created from the panel's form`);
  const entry = `#poll-list .decide-poll[data-poll="${pollId}"]`;
  await studio.click(`${entry} [data-action=poll_open]`);
  await studio.waitForSelector(`${entry}[data-status="open"]`);
  h.check('poll opened with the panel\'s Open button');

  const voted = await pollVotesFromNewViewers(viewer, pollId, POLL.ballots);
  h.assert(JSON.stringify(voted) === JSON.stringify(POLL.ballots), `${POLL.ballots.length} viewers voted (${JSON.stringify(voted)})`);
  const votes = POLL.options.map((_, i) => POLL.ballots.filter((b) => b.includes(i)).length);
  const total = POLL.ballots.length;
  // The studio's list counts them (the panel's option hints, "N صوت").
  await studio.waitForFunction(({ sel, votes }) => {
    const hints = [...document.querySelectorAll(`${sel} .decide-poll-options li .hint`)].map((n) => n.textContent);
    return hints.length === votes.length && hints.every((t, i) => t.startsWith(`${votes[i]} `));
  }, { sel: entry, votes });
  h.check(`the panel shows the votes (${votes.join(', ')})`);

  await studio.click(`${entry} [data-action=poll_air]`);
  await studio.waitForSelector(`${entry}[data-on-air="true"]`);
  await overlay.waitForFunction(({ id, total }) => {
    const n = document.querySelector('#poll');
    const s = window.__sablaState;
    return n && !n.hidden && n.dataset.on === 'true' && n.dataset.id === String(id) && getComputedStyle(n).opacity === '1'
      && s && s.poll && s.poll.id === id && s.poll.total === total;
  }, { id: pollId, total });
  h.check('"On air" in the Polls panel puts the poll on /overlay');
  h.assert(await overlay.$eval('#poll .poll-question', (n) => n.textContent) === POLL.ar, 'overlay poll shows the Arabic question');
  h.assert(await overlay.$eval('#poll', (n) => n.dir) === 'rtl', 'overlay poll is right-to-left');
  const labels = await overlay.$$eval('#poll .poll-option .poll-label', (n) => n.map((x) => x.textContent));
  h.assert(JSON.stringify(labels) === JSON.stringify(POLL.options.map(([ar]) => ar)), `overlay poll lists the Arabic options (${labels.join(', ')})`);
  const percents = await overlay.$$eval('#poll .poll-option .poll-percent', (n) => n.map((x) => x.textContent));
  const expected = votes.map((v) => `${Math.round((100 * v) / total)}%`);
  h.assert(JSON.stringify(percents) === JSON.stringify(expected), `overlay poll shows each option's share (${percents.join(', ')})`);
  h.assert(await overlay.$$eval('#stage .comment', (n) => n.length) === 0, 'nothing else on screen for the poll comparison');

  const shot = await shootAndRender(overlay, work, 'poll', (state) => {
    h.assert(state && state.poll && state.poll.id === pollId && Array.isArray(state.comments) && state.comments.length === 0
      && !state.lower_third && state.ticker === null, 'fixed state for the poll comparison: the poll alone');
  });
  if (!shot) return;
  const { page, ren } = shot;
  const { pageBox, renBox } = compareBoxes('poll', page, ren);
  const domBox = await overlay.$eval('#poll', (n) => n.getBoundingClientRect().toJSON());
  h.assert(Math.abs(domBox.left - pageBox.left) <= 1 && Math.abs(domBox.right - 1 - pageBox.right) <= 1
    && Math.abs(domBox.top - pageBox.top) <= 1 && Math.abs(domBox.bottom - 1 - pageBox.bottom) <= 1,
  `the screenshot's box is the #poll element (${Math.round(domBox.left)},${Math.round(domBox.top)} .. ${Math.round(domBox.right)},${Math.round(domBox.bottom)})`);

  // White: question and option labels, starting on the right (rtl); the
  // question is the top line. Accent: percentages on the left (the end
  // side), bars, footer.
  const pageText = bbox(page, white, pageBox);
  const renText = bbox(ren, white, renBox);
  h.assert(pageText && renText, 'both images show the poll text');
  h.log(`poll text: page ${fmt(pageText)}, renderer ${fmt(renText)}`);
  for (const edge of ['right', 'top']) {
    const d = Math.abs(pageText[edge] - renText[edge]);
    h.assert(d <= TEXT_TOLERANCE, `poll text ${edge === 'right' ? 'start (right)' : 'top'} edge within ${TEXT_TOLERANCE} px (page ${pageText[edge]}, renderer ${renText[edge]}, diff ${d})`);
  }
  const pageAccent = bbox(page, gold, pageBox);
  const renAccent = bbox(ren, gold, renBox);
  h.assert(pageAccent && renAccent, 'both images show percentages and bars in the accent colour');
  h.log(`poll accent: page ${fmt(pageAccent)}, renderer ${fmt(renAccent)}`);
  for (const edge of ['left', 'right', 'top', 'bottom']) {
    const d = Math.abs(pageAccent[edge] - renAccent[edge]);
    h.assert(d <= TEXT_TOLERANCE, `poll accent ${edge} edge within ${TEXT_TOLERANCE} px (page ${pageAccent[edge]}, renderer ${renAccent[edge]}, diff ${d})`);
  }
  h.log(`poll step: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function main() {
  const { base, password, passwords, port } = await h.startServer(binary, {
    users: [{ name: 'producer', role: 'producer' }, { name: 'moderator1', role: 'moderator' }],
  });
  h.assert(Number.isInteger(port) && port > 0, `server listening on port ${port}`);
  h.assert(!!password && !!passwords.moderator1, 'accounts "producer" and "moderator1" created');
  await h.launch();
  const work = h.tempDir('sabla-overlay-work-');

  // --- studio (producer) ---
  const studio = await h.newPage('studio', { width: 1440, height: 1000 });
  await loginStudio(h, studio, base, password);
  await ensureLiveSession(h, studio);
  await studio.waitForSelector('#onair #onair-clear');
  h.check('studio shows the On air panel');
  h.assert(await studio.$eval('#onair-preview', (f) => f.getAttribute('src')) === '/overlay', 'studio has the /overlay preview frame');

  // --- overlay page, as a 1920x1080 browser source ---
  const overlay = await h.newPage('overlay', { width: 1920, height: 1080 });
  const ovResp = await overlay.goto(`${base}/overlay`);
  h.assert(ovResp.status() === 200, 'GET /overlay -> 200');
  h.assert(/frame-ancestors 'self'/.test(ovResp.headers()['content-security-policy'] || ''), 'overlay page carries the CSP header');
  await overlay.waitForFunction(() => document.body.dataset.version !== undefined);
  const v0 = Number(await overlay.evaluate(() => document.body.dataset.version));
  h.check(`overlay connected (version ${v0})`);
  const bg = await overlay.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]);
  h.assert(bg.every((c) => c === 'rgba(0, 0, 0, 0)'), `overlay page background is transparent (${bg.join(', ')})`);
  h.assert(await overlay.evaluate(() => document.documentElement.scrollWidth <= innerWidth && document.documentElement.scrollHeight <= innerHeight),
    'overlay page has nothing to scroll');

  // --- viewer comment -> approve ---
  const viewer = await h.newPage('viewer');
  await viewer.goto(`${base}/`);
  const [ack] = await postViewerComments(viewer, [ARABIC], AUTHOR);
  h.assert(ack.type === 'ack' && Number.isInteger(ack.id), `viewer comment stored (id ${ack.id}, ${ack.status})`);
  const id = ack.id;
  if (ack.status === 'pending') {
    await studio.waitForSelector(`#queue [data-id="${id}"]`);
    await approveInStudio(studio, id);
  } else {
    await studio.waitForSelector(`#approved [data-id="${id}"]`);
  }
  h.check(`comment ${id} approved and listed with its on-air buttons`);
  h.assert(await studio.$eval(`#approved [data-id="${id}"] input.queue-seconds`, (n) => n.value) === '15', 'rotation seconds default to 15');

  // --- air it from the studio ---
  await studio.click(`#approved [data-id="${id}"] [data-action=air]`);
  await waitOnAir(overlay, id);
  const item = await overlay.$(`#comments [data-id="${id}"]`);
  const text = await item.$eval('.comment-text', (n) => n.textContent);
  h.assert(text === ARABIC, 'overlay shows the exact Arabic text');
  h.assert(await item.$eval('.comment-text', (n) => n.getAttribute('dir')) === 'rtl', 'overlay comment text has dir="rtl"');
  h.assert(await item.$eval('.comment-text', (n) => getComputedStyle(n).direction) === 'rtl', 'overlay comment text is laid out right-to-left');
  h.assert(await item.$eval('.comment-author', (n) => n.tagName) === 'BDI', 'author is isolated in <bdi>');
  h.assert(await item.$eval('.comment-author', (n) => n.textContent) === AUTHOR, `author line shows the viewer's name (${AUTHOR})`);
  const v1 = Number(await overlay.evaluate(() => document.body.dataset.version));
  h.assert(v1 > v0, `body[data-version] advanced (${v0} -> ${v1})`);
  await studio.waitForSelector(`#onair-now [data-id="${id}"]`);
  h.assert(await studio.$eval(`#approved [data-id="${id}"]`, (n) => n.dataset.onair) === 'true', 'studio marks the approved comment as on air');
  h.assert(await overlay.$$eval('#stage img, #stage script', (n) => n.length) === 0, 'no markup created from user text');

  // --- renderer comparison (one Arabic comment, no lower third, no ticker) ---
  await compareWithRenderer(overlay, work);

  // --- ticker and lower third from the studio forms ---
  const TICKER = 'البث مباشر من قاعة المجلس';
  await studio.fill('#ticker-input', TICKER);
  await studio.click('#ticker-set');
  await overlay.waitForFunction((t) => {
    const n = document.querySelector('#ticker');
    return n && !n.hidden && n.textContent === t;
  }, TICKER);
  h.assert(await overlay.$eval('#ticker .ticker-text', (n) => n.dir) === 'rtl', 'ticker shows the text, right-to-left');
  await studio.fill('#lt-name-ar', 'د. خالد العبري');
  await studio.fill('#lt-name-en', 'Dr Khalid Al-Abri');
  await studio.fill('#lt-title-ar', 'رئيس المجلس البلدي');
  await studio.click('#lt-set');
  await overlay.waitForFunction(() => {
    const n = document.querySelector('#lower-third');
    return n && !n.hidden && n.querySelector('.lt-ar .lt-name').textContent === 'د. خالد العبري'
      && n.querySelector('.lt-en .lt-name').textContent === 'Dr Khalid Al-Abri';
  });
  h.check('lower third shows the Arabic then the English name');
  // The stack sits above the lower third, which sits above the ticker band.
  const boxes = await overlay.evaluate((cid) => {
    const r = (sel) => document.querySelector(sel).getBoundingClientRect();
    return { comment: r(`#comments [data-id="${cid}"]`), lt: r('#lower-third'), ticker: r('#ticker') };
  }, id);
  h.assert(boxes.comment.bottom <= boxes.lt.top - 15 && boxes.lt.bottom <= boxes.ticker.top - 15,
    `comment above lower third above ticker (${Math.round(boxes.comment.bottom)} < ${Math.round(boxes.lt.top)}, ${Math.round(boxes.lt.bottom)} < ${Math.round(boxes.ticker.top)})`);
  await studio.click('#lt-clear');
  await studio.click('#ticker-clear');
  await overlay.waitForFunction(() => document.querySelector('#lower-third').hidden && document.querySelector('#ticker').hidden);
  h.check('lower third and ticker removed');

  // --- theme from the studio ---
  await studio.selectOption('#theme-preset', 'dark');
  await overlay.waitForFunction(() => document.querySelector('#stage').dataset.theme === 'dark');
  const darkBg = await overlay.$eval(`#comments [data-id="${id}"]`, (n) => getComputedStyle(n).backgroundColor);
  h.assert(darkBg === 'rgba(0, 0, 0, 0.85)', `dark preset colours the box (${darkBg})`);
  await studio.selectOption('#theme-position', 'top');
  await overlay.waitForFunction(() => document.querySelector('#stage').dataset.position === 'top');
  const top = await overlay.$eval(`#comments [data-id="${id}"]`, (n) => n.getBoundingClientRect().top);
  h.assert(Math.abs(top - 54) < 1, `position top puts the box at margin_y (${top})`);
  await studio.selectOption('#theme-preset', 'default');
  await studio.selectOption('#theme-position', 'bottom');
  await overlay.waitForFunction(() => document.querySelector('#stage').dataset.theme === 'default' && document.querySelector('#stage').dataset.position === 'bottom');
  h.check('theme back to default, bottom');

  // --- query overrides on a second overlay page ---
  const light = await h.newPage('overlay-light', { width: 960, height: 540 });
  await light.goto(`${base}/overlay?theme=light&position=side`);
  await waitOnAir(light, id);
  const lightInfo = await light.evaluate((cid) => {
    const stage = document.querySelector('#stage');
    const box = document.querySelector(`#comments [data-id="${cid}"]`).getBoundingClientRect();
    return { theme: stage.dataset.theme, position: stage.dataset.position, transform: getComputedStyle(stage).transform, right: box.right, width: box.width };
  }, id);
  h.assert(lightInfo.theme === 'light' && lightInfo.position === 'side', '?theme=light&position=side override the theme locally');
  h.assert(/matrix\(0\.5, 0, 0, 0\.5, 0, 0\)/.test(lightInfo.transform), `stage scaled to 960x540 (${lightInfo.transform})`);
  h.assert(Math.abs(lightInfo.width - 280) < 1 && Math.abs(lightInfo.right - (960 - 48)) < 1, `side box 560 wide at the right margin, scaled (${lightInfo.width} wide, right ${lightInfo.right})`);
  await light.context().close();

  // --- a moderator sees the panel but may not change what is on air ---
  const mod = await h.newPage('moderator', { width: 1440, height: 1000 });
  await loginStudio(h, mod, base, passwords.moderator1, 'moderator1');
  await mod.waitForSelector('#onair-readonly', { state: 'visible' });
  h.check('moderator studio says on-air control is for producers');
  await mod.waitForSelector(`#onair-now [data-id="${id}"]`);
  await mod.click(`#approved [data-id="${id}"] [data-action=add]`);
  await mod.waitForSelector('#onair-notice[data-code="forbidden"]', { state: 'visible' });
  const forbidden = await mod.textContent('#onair-notice');
  h.assert(forbidden === 'التحكم بما يظهر على الهواء للمنتجين فقط.', `moderator's air refused, shown readably ("${forbidden}")`);
  h.assert(await overlay.$$eval('#comments [data-id]', (n) => n.length) === 1, 'overlay unchanged by the refused action');
  await mod.context().close();

  // --- take one off screen: it leaves the overlay, stays approved ---
  await studio.click(`#onair-now [data-id="${id}"] [data-action=unair]`);
  await overlay.waitForSelector(`#comments [data-id="${id}"]`, { state: 'detached' });
  await studio.waitForSelector(`#onair-now [data-id="${id}"]`, { state: 'detached' });
  h.assert(await studio.$eval(`#approved [data-id="${id}"]`, (n) => n.dataset.onair) === 'false', '"Take off": off screen, still in Recently approved');
  await studio.click(`#approved [data-id="${id}"] [data-action=air]`);
  await overlay.waitForSelector(`#comments [data-id="${id}"]`);
  h.check('"Take off" took the comment off the overlay; "Air now" brought it back');

  // --- clear ---
  await studio.click('#onair-clear');
  await overlay.waitForSelector(`#comments [data-id="${id}"]`, { state: 'detached' });
  await overlay.waitForFunction(() => document.querySelectorAll('#stage .comment').length === 0);
  h.check('"Clear screen": the comment faded out and left the overlay');
  await studio.waitForSelector(`#onair-now [data-id="${id}"]`, { state: 'detached' });
  h.assert(await studio.$eval(`#approved [data-id="${id}"]`, (n) => n.dataset.onair) === 'false', 'studio no longer marks it on air');

  // --- a poll from the studio's Polls panel, voted on and aired from it ---
  await airPollFromStudio(studio, overlay, viewer, work);

  await h.assertCleanPages({ studio, overlay, viewer });
}

h.run(main, 'studio -> air -> overlay (and renderer) -> clear');
