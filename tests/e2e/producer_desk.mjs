#!/usr/bin/env node
// Browser test of the studio as a producer's desk on a 1366×768 laptop:
//
//  - layout: the review queue and the on-air controls are in view without
//    scrolling, the settings are folded away (a dialog), the "Recently
//    approved" buttons stay on one row; screenshots at 1366×768 and
//    1920×1080 go to $SABLA_E2E_SCREENSHOTS (outside the repository; a temp
//    dir removed at the end when unset);
//  - the queue is oldest first by default, switchable, and remembered;
//  - producer keys typed on an ARABIC keyboard layout (real key events with
//    the Arabic characters and the physical key codes, through CDP): ش (A)
//    approves, ى (N) airs now, س (S) adds to the screen, ض (Q) queues, ء (X)
//    clears the screen (panic), ؟ (Shift+/) opens the help sheet listing
//    them all; each button shows its key;
//  - reject opens a dialog of preset reasons (digits pick one).
//
//   node tests/e2e/producer_desk.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import fs from 'node:fs';
import path from 'node:path';
import { Harness, loginStudio, ensureLiveSession, postViewerComments } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'producer-desk', hardTimeoutMs: 90_000 });

const COMMENTS = [
  'ما هي خطة تطوير الطرق في الولاية؟ نرجو توضيح الجدول الزمني للمشاريع القادمة',
  'When will the new school open in our district?',
  'نطالب بزيادة ميزانية المدارس',
  'متى يكتمل طريق الساحل؟',
  'سؤال عن المستشفى الجديد',
];

// A key as Chromium delivers it from an Arabic (PC) layout: the Arabic
// character in `key`, the physical key in `code`.
const VK = { ArrowUp: 38, KeyA: 65, KeyN: 78, KeyS: 83, KeyQ: 81, KeyX: 88, KeyR: 82, Slash: 191, Digit2: 50 };
async function pressArabic(page, key, code, { shift = false } = {}) {
  const cdp = await page.context().newCDPSession(page);
  const base = { key, code, windowsVirtualKeyCode: VK[code], nativeVirtualKeyCode: VK[code], modifiers: shift ? 8 : 0 };
  const text = [...key].length === 1 ? { text: key, unmodifiedText: key } : {};
  await cdp.send('Input.dispatchKeyEvent', { type: text.text ? 'keyDown' : 'rawKeyDown', ...text, ...base });
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...base });
  await cdp.detach();
}

async function main() {
  const { base, password } = await h.startServer(binary);
  await h.launch();
  const studio = await h.newPage('studio', { width: 1366, height: 768 });
  await loginStudio(h, studio, base, password);
  await ensureLiveSession(h, studio);
  const viewer = await h.newPage('viewer');
  await viewer.goto(`${base}/`);
  const acks = await postViewerComments(viewer, COMMENTS, 'مريم');
  const ids = acks.map((a) => a.id);
  await studio.waitForFunction((n) => document.querySelectorAll('#queue li').length === n, ids.length);

  // --- queue order: oldest first by default, switchable, remembered ---
  const order = () => studio.$$eval('#queue li', (li) => li.map((x) => Number(x.dataset.id)));
  h.assert(JSON.stringify(await order()) === JSON.stringify(ids), `queue oldest first by default (${ids.join(', ')})`);
  await studio.selectOption('#queue-sort', 'newest');
  h.assert(JSON.stringify(await order()) === JSON.stringify([...ids].reverse()), 'switched to newest first');
  await studio.reload();
  await studio.waitForSelector('#studio[data-state="ready"]');
  await studio.waitForFunction((n) => document.querySelectorAll('#queue li').length === n, ids.length);
  h.assert(await studio.inputValue('#queue-sort') === 'newest' && (await order())[0] === ids.at(-1), 'the choice is remembered after a reload');
  await studio.selectOption('#queue-sort', 'oldest');

  // --- moderation key on an Arabic layout: ش is the A key ---
  await studio.click(`#queue [data-id="${ids[0]}"] .comment-text`);
  await studio.waitForSelector(`#queue [data-id="${ids[0]}"].is-selected`);
  for (const id of ids.slice(0, 4)) {
    await pressArabic(studio, 'ش', 'KeyA');
    await studio.waitForSelector(`#approved [data-id="${id}"]`);
  }
  h.check('ش (the A key on an Arabic layout) approved four comments in queue order');

  // --- layout at 1366×768 ---
  const box = (sel) => studio.$eval(sel, (n) => { const r = n.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, w: r.width }; });
  const inView = async (sel) => {
    const b = await box(sel);
    return b.w > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= 768 && b.right <= 1366;
  };
  h.assert(await studio.evaluate(() => window.scrollY) === 0, 'the page is at the top');
  for (const sel of ['#queue-title', `#queue [data-id="${ids[4]}"] [data-action=approve]`, '#onair-clear', '#onair-preview', '#onair-now-empty',
    `#approved [data-id="${ids[0]}"] [data-action=air]`]) {
    h.assert(await inView(sel), `in view at 1366×768 without scrolling: ${sel}`);
  }
  h.assert(!(await studio.isVisible('#set-slow')), 'settings are folded away');
  await studio.click('#settings-open');
  h.assert(await studio.isVisible('#set-slow'), 'and open in a dialog from the session bar');
  await studio.click('#settings-close');
  // One row: every button's vertical middle is inside every other's box.
  const rows = await studio.$$eval('#approved .onair-actions', (groups) => groups.map((g) => {
    const boxes = [...g.querySelectorAll('button, input')].map((c) => c.getBoundingClientRect());
    const mids = boxes.map((b) => (b.top + b.bottom) / 2);
    const card = g.closest('li').getBoundingClientRect();
    const inside = boxes.every((b) => b.left >= card.left && b.right <= card.right);
    return (boxes.every((b) => mids.every((m) => m > b.top && m < b.bottom)) ? 1 : 2) + (inside ? 0 : 10);
  }));
  h.assert(rows.length === 4 && rows.every((n) => n === 1), `"Recently approved" buttons on one row each, none cut off (${rows.join(', ')})`);
  await studio.click('#lang-toggle');
  const rowsEn = await studio.$$eval('#approved .onair-actions', (groups) => groups.map((g) => {
    const card = g.closest('li').getBoundingClientRect();
    return [...g.querySelectorAll('button, input')].every((c) => { const b = c.getBoundingClientRect(); return b.left >= card.left && b.right <= card.right; });
  }));
  h.assert(rowsEn.every(Boolean), 'and none cut off in English either');
  await studio.click('#lang-toggle');
  const kbd = await studio.textContent(`#approved [data-id="${ids[0]}"] [data-action=air] kbd`);
  h.assert(kbd === 'N', 'the Air now button shows its key (N)');

  const shots = process.env.SABLA_E2E_SCREENSHOTS || h.tempDir('sabla-desk-shots-');
  fs.mkdirSync(shots, { recursive: true });
  await studio.screenshot({ path: path.join(shots, 'studio-1366x768.png') });

  // --- producer keys on an Arabic layout ---
  const onScreen = () => studio.$$eval('#onair-now li', (li) => li.map((x) => Number(x.dataset.id)));
  await studio.click(`#approved [data-id="${ids[0]}"] .comment-text`);
  await pressArabic(studio, 'ى', 'KeyN');
  await studio.waitForFunction((id) => [...document.querySelectorAll('#onair-now li')].map((x) => Number(x.dataset.id)).join() === String(id), ids[0]);
  h.check('ى (N) airs the selected comment now');
  await pressArabic(studio, 'ArrowUp', 'ArrowUp', { shift: true }); // the list is newest first: up is newer
  const sel = Number(await studio.getAttribute('#approved li.is-selected', 'data-id'));
  h.assert(sel === ids[1], `Shift+↑ selects the next approved comment (${sel})`);
  await pressArabic(studio, 'س', 'KeyS');
  await studio.waitForFunction(() => document.querySelectorAll('#onair-now li').length === 2);
  h.assert(JSON.stringify((await onScreen()).sort()) === JSON.stringify([ids[0], ids[1]].sort()), 'س (S) adds it to the screen: two on screen');
  await studio.click(`#approved [data-id="${ids[2]}"] .comment-text`);
  await pressArabic(studio, 'ض', 'KeyQ');
  await studio.waitForSelector(`#rotation [data-id="${ids[2]}"], #onair-now [data-id="${ids[2]}"]`);
  h.check('ض (Q) queues it in the rotation');
  await pressArabic(studio, 'ء', 'KeyX');
  await studio.waitForFunction(() => document.querySelectorAll('#onair-now li').length === 0 && document.querySelectorAll('#rotation li').length === 0);
  h.check('ء (X), the panic key, clears the screen and the rotation');
  await studio.setViewportSize({ width: 1920, height: 1080 });
  await studio.click(`#approved [data-id="${ids[0]}"] [data-action=air]`);
  await studio.waitForSelector(`#onair-now [data-id="${ids[0]}"]`);
  await studio.screenshot({ path: path.join(shots, 'studio-1920x1080.png') });
  await studio.setViewportSize({ width: 1366, height: 768 });

  // --- the help sheet: ؟ on an Arabic layout ---
  await pressArabic(studio, '؟', 'Slash', { shift: true });
  await studio.waitForSelector('#keys-dialog[open]');
  const sheet = await studio.$$eval('#keys-sheet kbd', (k) => k.map((x) => x.textContent));
  for (const want of ['A', 'R', 'E', 'B', 'H', 'N', 'S', 'Q', 'X', '?']) h.assert(sheet.includes(want), `help sheet lists ${want}`);
  await studio.keyboard.press('Escape');
  await studio.waitForSelector('#keys-dialog:not([open])', { state: 'attached' });
  await studio.click('#keys-open');
  await studio.waitForSelector('#keys-dialog[open]');
  await studio.click('#keys-close');
  h.check('the sheet opens from the ? button too, and closes');

  // --- reject with a preset reason ---
  await studio.click('body');
  await pressArabic(studio, 'ق', 'KeyR');
  await studio.waitForSelector('#reject-dialog[open]');
  const reasons = await studio.$$eval('#reject-dialog input[name=reason]', (r) => r.map((x) => x.value));
  h.assert(JSON.stringify(reasons) === JSON.stringify(['off_topic', 'abusive', 'duplicate', 'personal_data', 'other']), `reject reasons offered: ${reasons.join(', ')}`);
  await pressArabic(studio, '2', 'Digit2');
  h.assert(await studio.$eval('#reject-dialog input[value=abusive]', (r) => r.checked), 'the digit 2 picks "abusive"');
  await studio.click('#reject-dialog [data-dialog=ok]');
  await studio.waitForSelector(`#queue [data-id="${ids[4]}"]`, { state: 'detached' });
  h.check('ق (R) rejected the last comment through the reasons dialog');

  await h.assertCleanPages({ studio, viewer });
  if (process.env.SABLA_E2E_SCREENSHOTS) h.log(`screenshots in ${shots}`);
}

h.run(main, 'studio desk at 1366×768: queue and on-air in view, producer keys on an Arabic layout, help sheet, reasons');
