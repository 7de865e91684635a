#!/usr/bin/env node
// Browser test of the producer's desk (issue 17) at 1366x768: from the
// studio's Sessions dialog the producer creates a session with Arabic and
// English titles and a planned start, renames it, takes it live — a viewer
// page open meanwhile shows the new Arabic title, and so does a moderator's
// session bar — renames it on air, and ends it only after confirming the
// dialog (cancelling first leaves it live). The moderator's studio has no
// session controls, and the server refuses them a rename.
//
//   node tests/e2e/studio_sessions.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import { Harness, loginStudio } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'studio-sessions', hardTimeoutMs: 90_000 });
const AR = 'جلسة الميزانية';
const EN = '<b>Budget</b> & questions'; // markup stays text
const AR2 = 'جلسة الموازنة العامة';
const AR3 = 'الموازنة: أسئلة المشاهدين';

async function sessionsFromPage(page) {
  return page.evaluate(async () => (await (await fetch('/api/v1/sessions', { credentials: 'same-origin' })).json()).sessions);
}

async function main() {
  const { base, passwords } = await h.startServer(binary, {
    users: [{ name: 'producer', role: 'producer' }, { name: 'mod', role: 'moderator' }],
  });
  await h.launch();
  const studio = await h.newPage('studio', { width: 1366, height: 768 });
  const viewer = await h.newPage('viewer');
  const mod = await h.newPage('moderator', { width: 1366, height: 768 });
  await loginStudio(h, studio, base, passwords.producer);
  await loginStudio(h, mod, base, passwords.mod, 'mod');
  await viewer.goto(`${base}/`);
  await viewer.waitForFunction(() => document.querySelector('#session-title').textContent === 'جلسة سبلة');
  h.check('the viewer shows the default session');

  // The moderator sees the session but has no controls; the server agrees.
  await mod.waitForFunction(() => document.querySelector('#session-title').textContent === 'جلسة سبلة');
  await studio.waitForSelector('#sessions-open:not([hidden])');
  await mod.waitForTimeout(300); // the role check has answered on both pages by now
  h.assert(!(await mod.isVisible('#sessions-open')), 'a moderator has no Sessions button');
  h.assert(await mod.evaluate(() => !document.querySelector('#sessions-dialog').open), 'and no sessions dialog');
  const modPatch = await mod.evaluate(async () => (await fetch('/api/v1/sessions/1', {
    method: 'PATCH', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{"title_ar":"x"}',
  })).status);
  h.assert(modPatch === 403, `a moderator's rename is refused (${modPatch})`);

  // Create, from the dialog (folded away: the desk keeps its columns).
  await studio.click('#sessions-open');
  await studio.waitForSelector('#sessions-dialog[open] #session-create');
  const box = await studio.locator('#sessions-dialog').boundingBox();
  h.assert(box && box.y >= 0 && box.y + box.height <= 768 && box.x >= 0 && box.x + box.width <= 1366,
    `the dialog fits 1366x768 (${JSON.stringify(box)})`);
  await studio.fill('#new-title-ar', AR);
  await studio.fill('#new-title-en', EN);
  await studio.fill('#new-scheduled', '2031-05-01T18:30');
  await studio.click('#session-create-submit');
  const item = studio.locator('#sessions-list li[data-status="scheduled"]').filter({ hasText: AR });
  await item.waitFor();
  const id = Number(await item.getAttribute('data-id'));
  let row = (await sessionsFromPage(studio)).find((s) => s.id === id);
  h.assert(row && row.title_ar === AR && row.title_en === EN && row.status === 'scheduled' &&
    row.scheduled_at === new Date(2031, 4, 1, 18, 30).getTime(), `created with both titles and the planned start (${JSON.stringify(row)})`);
  h.assert(await item.locator('b').count() === 0 && await item.locator('input[name="title_en"]').inputValue() === EN,
    'the English title shows as text');

  // Rename before it goes live.
  await item.locator('input[name="title_ar"]').fill(AR2);
  await item.locator('button[data-act="rename"]').click();
  await studio.waitForSelector(`#sessions-list li[data-id="${id}"] .session-item-title >> text=${AR2}`);
  row = (await sessionsFromPage(studio)).find((s) => s.id === id);
  h.assert(row.title_ar === AR2 && row.title_en === EN, 'renamed: the new Arabic title is stored, the English one kept');

  // Go live: the viewer, the producer's and the moderator's session bars show it.
  await studio.click(`#sessions-list li[data-id="${id}"] button[data-act="live"]`);
  await studio.waitForSelector(`#sessions-list li[data-id="${id}"][data-status="live"]`);
  await viewer.waitForFunction((t) => document.querySelector('#session-title').textContent === t, AR2);
  h.check('the viewer page shows the new Arabic title');
  for (const [label, page] of [['producer', studio], ['moderator', mod]]) {
    await page.waitForFunction((t) => document.querySelector('#session-title').textContent === t &&
      document.querySelector('#session-status').dataset.status === 'live', AR2);
    h.check(`the ${label}'s session bar shows it live`);
  }

  // Rename on air: pushed to every studio and viewer.
  const live = studio.locator(`#sessions-list li[data-id="${id}"]`);
  await live.locator('input[name="title_ar"]').fill(AR3);
  await live.locator('button[data-act="rename"]').click();
  for (const page of [viewer, studio, mod]) await page.waitForFunction((t) => document.querySelector('#session-title').textContent === t, AR3);
  h.check('a rename on air reaches the viewer and both studios');
  h.assert((await viewer.title()).startsWith(AR3), `the viewer's document title follows (${await viewer.title()})`);

  // End: cancelling the confirmation leaves it live; confirming ends it.
  await studio.click(`#sessions-list li[data-id="${id}"] button[data-act="end"]`);
  await studio.waitForSelector('#session-end-dialog[open]');
  const question = await studio.textContent('#session-end-text');
  h.assert(question.includes(AR3), `the confirmation names the session (${question})`);
  await studio.click('#session-end-cancel');
  await studio.waitForFunction(() => !document.querySelector('#session-end-dialog').open);
  row = (await sessionsFromPage(studio)).find((s) => s.id === id);
  h.assert(row.status === 'live', 'cancelled: still live');
  await studio.click(`#sessions-list li[data-id="${id}"] button[data-act="end"]`);
  await studio.click('#session-end-confirm');
  await studio.waitForSelector(`#sessions-list li[data-id="${id}"][data-status="ended"]`);
  row = (await sessionsFromPage(studio)).find((s) => s.id === id);
  h.assert(row.status === 'ended' && row.title_ar === AR3, 'confirmed: ended, the title kept');
  for (const page of [studio, mod]) await page.waitForFunction(() => document.querySelector('#session-status').dataset.status === 'offline');
  h.check('both studios show the session off air');
  await h.assertCleanPages({ studio, viewer, mod });
}

h.run(main, 'the producer creates, renames, takes live and ends a session from the studio; a moderator cannot');
