#!/usr/bin/env node
// Browser test of the viewer page as a viewer at a ministry's session uses
// it, on a 1366×768 screen with an English-language browser:
//
//  - the page opens in Arabic whatever the browser's language; a choice of
//    English is remembered across reloads; `[session] default_language = en`
//    (SABLA_DEFAULT_LANGUAGE) opens it in English instead;
//  - the send button and its confirmation are in view without scrolling;
//    Enter sends, Shift+Enter adds a line;
//  - the viewer's own comments show their state as the studio decides:
//    waiting for review, published, on air now, not published (hidden after
//    publishing);
//  - the vote button is on the same side of every card, Arabic or English;
//  - counts use the language's plural forms (Intl.PluralRules): one viewer,
//    two viewers ("يشاهد الآن شخص واحد", "يشاهد الآن شخصان").
//
//   node tests/e2e/viewer_comments.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import { Harness, loginStudio, ensureLiveSession, approveInStudio } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'viewer-comments', hardTimeoutMs: 90_000 });

const FIRST_LINE = 'متى يفتح المستشفى الجديد';
const SECOND_LINE = 'في ولاية صحار؟';
const ENGLISH = 'When will the new school open in our district?';

const mineState = (page, id) => page.$eval(`#mine [data-id="${id}"]`, (li) => li.dataset.state).catch(() => null);

async function waitMine(page, id, want) {
  await page.waitForSelector(`#mine [data-id="${id}"][data-state="${want}"]`);
  return page.textContent(`#mine [data-id="${id}"] .mine-state`);
}

async function main() {
  const { base, password } = await h.startServer(binary);
  await h.launch();
  const studio = await h.newPage('studio');
  await loginStudio(h, studio, base, password);
  await ensureLiveSession(h, studio);

  // --- language: Arabic for an English browser, English once chosen ---
  const viewer = await h.newPage('viewer', { width: 1366, height: 768, locale: 'en-US' });
  await viewer.goto(`${base}/`);
  await viewer.waitForSelector('#conn[data-state="open"]');
  h.assert(await viewer.evaluate(() => document.documentElement.lang + document.documentElement.dir) === 'arrtl',
    'an en-US browser gets the page in Arabic (lang="ar" dir="rtl")');
  h.assert((await viewer.textContent('#send')).trim() === 'إرسال', 'the send button is in Arabic');
  await viewer.click('#lang-toggle');
  await viewer.reload();
  await viewer.waitForSelector('#conn[data-state="open"]');
  h.assert(await viewer.evaluate(() => document.documentElement.lang) === 'en', 'English, once chosen, is kept after a reload');
  await viewer.click('#lang-toggle');
  h.assert(await viewer.evaluate(() => document.documentElement.lang) === 'ar', 'and Arabic again when switched back');

  // --- the send button and its confirmation in view at 1366×768 ---
  const inView = async (sel) => viewer.$eval(sel, (n) => {
    const r = n.getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
  });
  h.assert(await viewer.evaluate(() => window.scrollY) === 0 && await inView('#send'), 'send button in view at 1366×768 without scrolling');

  // --- Enter sends, Shift+Enter adds a line ---
  await viewer.fill('#display-name', 'سالم');
  await viewer.press('#display-name', 'Tab');
  await viewer.click('#comment-text');
  await viewer.keyboard.type(FIRST_LINE);
  await viewer.keyboard.press('Shift+Enter');
  h.assert(await viewer.inputValue('#comment-text') === `${FIRST_LINE}\n`, 'Shift+Enter adds a line and does not send');
  await viewer.keyboard.type(SECOND_LINE);
  await viewer.keyboard.press('Enter');
  await viewer.waitForSelector('#compose-status[data-kind="ack-pending"]');
  h.assert(await viewer.inputValue('#comment-text') === '', 'Enter sent the comment (the box is empty)');
  h.assert(await inView('#compose-status'), 'the confirmation is in view');
  const firstId = Number(await viewer.getAttribute('#mine li[data-state="pending"]', 'data-id'));
  h.assert(firstId > 0, `own comment ${firstId} listed`);
  h.assert((await viewer.textContent(`#mine [data-id="${firstId}"] .mine-text`)) === `${FIRST_LINE}\n${SECOND_LINE}`, 'with both lines');
  h.assert((await waitMine(viewer, firstId, 'pending')) === 'بانتظار المراجعة', 'state: waiting for review');

  // --- published, on air, off air ---
  await approveInStudio(studio, firstId);
  h.assert((await waitMine(viewer, firstId, 'approved')) === 'منشور', 'state: published after the studio approves');
  await studio.click(`#approved [data-id="${firstId}"] [data-action=air]`);
  h.assert((await waitMine(viewer, firstId, 'on_air')) === 'على الشاشة الآن', 'state: on air now');
  await studio.click('#onair-clear');
  await waitMine(viewer, firstId, 'approved');
  h.check('state: published again once the screen is cleared');

  // --- not published: hidden after it was published ---
  await viewer.fill('#comment-text', ENGLISH);
  await viewer.press('#comment-text', 'Enter');
  await viewer.waitForSelector('#mine li[data-state="pending"]');
  const englishId = Number(await viewer.getAttribute('#mine li[data-state="pending"]', 'data-id'));
  await approveInStudio(studio, englishId);
  await waitMine(viewer, englishId, 'approved');
  await viewer.waitForSelector(`#feed [data-id="${englishId}"]`);

  // --- the vote button on one side of every card ---
  const sides = await viewer.$$eval('#feed .comment', (items) => items.map((li) => {
    const card = li.getBoundingClientRect();
    const vote = li.querySelector('[data-action=vote]').getBoundingClientRect();
    return Math.round(vote.left - card.left);
  }));
  h.assert(sides.length === 2 && sides.every((x) => x === sides[0]), `vote button at the same place on Arabic and English cards (${sides.join(', ')} px from the card's left)`);

  await studio.click(`#approved [data-id="${englishId}"] [data-action=hide]`);
  h.assert((await waitMine(viewer, englishId, 'rejected')) === 'لم يُنشر', 'state: not published once hidden after publishing');
  h.assert(await mineState(viewer, firstId) === 'approved', 'the first comment is still published');

  // --- states survive a reload ---
  await viewer.reload();
  await viewer.waitForSelector(`#mine [data-id="${firstId}"][data-state="approved"]`);
  h.check('own comments and their states are still listed after a reload');

  // --- plural forms ---
  await viewer.waitForFunction(() => document.querySelector('#viewer-count').textContent.trim() === 'يشاهد الآن شخص واحد');
  h.check('one viewer: "يشاهد الآن شخص واحد"');
  const second = await h.newPage('viewer2', { width: 1366, height: 768, locale: 'ar' });
  await second.goto(`${base}/`);
  await second.waitForFunction(() => document.querySelector('#viewer-count').textContent.trim() === 'يشاهد الآن شخصان');
  h.check('two viewers: "يشاهد الآن شخصان" (the dual)');
  await second.click('#lang-toggle');
  h.assert((await second.textContent('#viewer-count')).trim() === '2 people watching', 'and "2 people watching" in English');

  await h.assertCleanPages({ studio, viewer, second });

  // --- [session] default_language = en ---
  for (const page of [studio, viewer, second]) await page.context().close();
  await h.stopServer();
  const en = await h.startServer(binary, { env: { SABLA_DEFAULT_LANGUAGE: 'en' } });
  const fresh = await h.newPage('viewer-en', { width: 1366, height: 768, locale: 'ar' });
  await fresh.goto(`${en.base}/`);
  await fresh.waitForSelector('#conn[data-state="open"]');
  h.assert(await fresh.evaluate(() => document.documentElement.lang + document.documentElement.dir) === 'enltr',
    'with default_language = en an Arabic browser gets the page in English');
  await fresh.click('#lang-toggle');
  await fresh.reload();
  h.assert(await fresh.evaluate(() => document.documentElement.lang) === 'ar', 'and a viewer who picks Arabic keeps it');
  await h.assertCleanPages({ fresh });
}

h.run(main, 'viewer page: Arabic by default, own comment states, Enter sends, send in view at 1366×768, plurals');
