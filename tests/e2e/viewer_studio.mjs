#!/usr/bin/env node
// Browser end-to-end test: a viewer posts an Arabic comment, a producer
// approves it in the studio with the keyboard, the viewer sees it (RTL, exact
// text); an HTML-looking comment stays literal text and runs no script.
//
//   node tests/e2e/viewer_studio.mjs path/to/sabla
//
// Exit code 0 = pass. Always stops by itself (hard timeout 90 s), killing the
// server and removing its temp data dir, also on failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HARD_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;
const CHROMIUM = process.env.SABLA_CHROMIUM || '/usr/bin/chromium';
const ARABIC = 'ما هي خطة تطوير الطرق في الولاية؟ 🚗';
const XSS = '<img src=x onerror="window.__xss=1">';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];

let server = null;
let browser = null;
let dataDir = null;
const serverLog = [];
const problems = { csp: [], pageErrors: [], consoleErrors: [] };
let finished = false;

function log(msg) { console.log(`[e2e] ${msg}`); }
function check(msg) { console.log(`[e2e] ok: ${msg}`); }

async function cleanup() {
  if (browser) { const b = browser; browser = null; await b.close().catch(() => {}); }
  if (server && server.exitCode === null && server.signalCode === null) {
    const s = server;
    await new Promise((resolve) => {
      const t = setTimeout(() => { try { s.kill('SIGKILL'); } catch { /* gone */ } resolve(); }, 3000);
      s.once('exit', () => { clearTimeout(t); resolve(); });
      try { s.kill('SIGTERM'); } catch { clearTimeout(t); resolve(); }
    });
  }
  if (dataDir) { fs.rmSync(dataDir, { recursive: true, force: true }); dataDir = null; }
}

async function finish(code, message) {
  if (finished) return;
  finished = true;
  if (code !== 0) {
    console.error(`[e2e] FAIL: ${message}`);
    if (problems.consoleErrors.length) console.error(`[e2e] console errors:\n  ${problems.consoleErrors.join('\n  ')}`);
    if (serverLog.length) console.error(`[e2e] last server output:\n  ${serverLog.slice(-40).join('\n  ')}`);
  } else {
    console.log(`[e2e] PASS: ${message}`);
  }
  await cleanup().catch(() => {});
  process.exit(code);
}

const hardTimer = setTimeout(() => { finish(2, `hard timeout after ${HARD_TIMEOUT_MS / 1000} s`); }, HARD_TIMEOUT_MS);
process.on('SIGINT', () => finish(130, 'interrupted'));
process.on('SIGTERM', () => finish(143, 'terminated'));

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
  check(msg);
}

// Starts the server and resolves {port, password} from its output.
function startServer() {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sabla-e2e-'));
  const env = { ...process.env };
  // Serve this checkout's pages, whichever tree the binary was built from.
  if (!env.SABLA_STATIC_DIR) env.SABLA_STATIC_DIR = path.resolve(here, '../../static');
  if (!env.SABLA_VIDEO_SOURCE) env.SABLA_VIDEO_SOURCE = 'off';  // this test is about comments
  server = spawn(binary, ['serve', '--port', '0', '--bind', '127.0.0.1', '--data', dataDir], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let port = null;
    let password = null;
    let graceTimer = null;
    const done = () => { clearTimeout(graceTimer); resolve({ port, password }); };
    const onLine = (line) => {
      serverLog.push(line);
      const pw = /password:\s*(\S+)/.exec(line);
      if (pw && !password) password = pw[1];
      const m = /listening on http:\/\/(?:localhost|127\.0\.0\.1|\[::1\]):(\d+)/.exec(line);
      if (m && !port) {
        port = Number(m[1]);
        // The password line normally comes first; give it a moment otherwise.
        if (password) done(); else graceTimer = setTimeout(done, 2000);
      } else if (port && password) done();
    };
    readline.createInterface({ input: server.stdout }).on('line', onLine);
    readline.createInterface({ input: server.stderr }).on('line', onLine);
    server.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
    server.once('exit', (code, signal) => reject(new Error(`server exited early (code ${code}, signal ${signal})`)));
    setTimeout(() => reject(new Error('server did not print "listening on http://localhost:PORT" (or 127.0.0.1) within 20 s')), 20_000);
  });
}

function watchPage(page, label) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = `${label}: ${msg.text()}`;
    problems.consoleErrors.push(text);
    if (/Content Security Policy/i.test(msg.text())) problems.csp.push(text);
  });
  page.on('pageerror', (err) => problems.pageErrors.push(`${label}: ${err.message}`));
}

async function newPage(label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ar' });
  // Runs before page scripts (not subject to the page CSP): records violations.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  watchPage(page, label);
  return page;
}

// Creates a session and makes it live unless one is live already (same-origin
// fetch from the logged-in studio page, so cookie and Origin are right).
async function ensureLiveSession(studio) {
  const result = await studio.evaluate(async () => {
    const list = await fetch('/api/v1/sessions', { credentials: 'same-origin' });
    if (!list.ok) return { error: `GET /api/v1/sessions -> ${list.status}` };
    const body = await list.json();
    const sessions = Array.isArray(body) ? body : (body.sessions || []);
    const live = sessions.find((s) => s.status === 'live');
    if (live) return { id: live.id, created: false };
    const created = await fetch('/api/v1/sessions', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title_ar: 'جلسة المجلس البلدي', title_en: 'Municipal council session' }),
    });
    if (created.status !== 201 && created.status !== 200) return { error: `POST /api/v1/sessions -> ${created.status}` };
    const s = await created.json();
    const id = s.id ?? (s.session && s.session.id);
    const live2 = await fetch(`/api/v1/sessions/${id}/live`, { method: 'POST', credentials: 'same-origin' });
    if (!live2.ok) return { error: `POST /api/v1/sessions/${id}/live -> ${live2.status}` };
    return { id, created: true };
  });
  if (result.error) throw new Error(result.error);
  check(`live session ${result.id} (${result.created ? 'created and started' : 'already live'})`);
}

// Posts `text` from the viewer page with Ctrl+Enter and waits for the ack.
async function postComment(viewer, text) {
  await viewer.fill('#comment-text', text);
  await viewer.press('#comment-text', 'Control+Enter');
  await viewer.waitForSelector('#compose-status[data-kind="ack-pending"], #compose-status[data-kind="ack-approved"], #compose-status[data-kind="error"]');
  const kind = await viewer.getAttribute('#compose-status', 'data-kind');
  const status = await viewer.textContent('#compose-status');
  assert(kind === 'ack-pending', `viewer got ack "pending" for ${JSON.stringify(text)} (status line: "${status}")`);
  assert(await viewer.inputValue('#comment-text') === '', 'comment box cleared after sending');
}

// Waits for a queue item with exactly `text` in the studio; returns its id.
async function queuedId(studio, text) {
  const handle = await studio.waitForFunction((t) => {
    for (const li of document.querySelectorAll('#queue [data-id]')) {
      if (li.querySelector('.comment-text')?.textContent === t) return li.dataset.id;
    }
    return null;
  }, text);
  return handle.jsonValue();
}

async function main() {
  if (!binary) throw new Error('usage: node viewer_studio.mjs path/to/sabla');
  if (!fs.existsSync(binary)) throw new Error(`no server binary at ${binary}`);

  const { port, password } = await startServer();
  assert(Number.isInteger(port) && port > 0, `server listening on port ${port}`);
  assert(!!password, 'first-start password for "producer" captured');
  const base = `http://127.0.0.1:${port}`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  log(`browser ${browser.version()}`);

  // --- studio: log in ---
  const studio = await newPage('studio');
  const studioResp = await studio.goto(`${base}/studio`);
  assert(studioResp.status() === 200, 'GET /studio -> 200');
  const csp = studioResp.headers()['content-security-policy'] || '';
  assert(/script-src 'self'/.test(csp), 'studio page carries the CSP header');
  await studio.waitForSelector('#login-form', { state: 'visible' });
  await studio.fill('#login-name', 'producer');
  await studio.fill('#login-password', password);
  await studio.click('#login-submit');
  await studio.waitForSelector('#studio[data-state="ready"]');
  check('studio logged in as producer and received its snapshot');

  await ensureLiveSession(studio);

  // --- viewer ---
  const viewer = await newPage('viewer');
  const viewerResp = await viewer.goto(`${base}/`);
  assert(viewerResp.status() === 200, 'GET / -> 200');
  await viewer.waitForSelector('#conn[data-state="open"]');
  check('viewer connected (welcome received)');
  assert(await viewer.getAttribute('html', 'dir') === 'rtl', 'viewer UI is Arabic/RTL for an Arabic browser');
  await viewer.waitForSelector('#live-badge[data-status="live"]');
  check('viewer shows the session as live');
  const counter = await viewer.textContent('#char-count');
  assert(/\b500\b/.test(counter), `character counter shows the max length (${counter})`);

  // --- Arabic comment: viewer -> studio queue -> approve with "A" -> viewer feed ---
  await postComment(viewer, ARABIC);
  const arId = await queuedId(studio, ARABIC);
  check(`studio queue shows the Arabic comment (id ${arId})`);
  await studio.click(`#queue [data-id="${arId}"] .comment-text`); // select it (not a button)
  await studio.waitForSelector(`#queue [data-id="${arId}"].is-selected`);
  await studio.keyboard.press('a');
  await studio.waitForSelector(`#queue [data-id="${arId}"]`, { state: 'detached' });
  check('approved with the A key: item left the queue on the server\'s update');
  await studio.waitForSelector(`#approved [data-id="${arId}"]`);
  check('studio "recently approved" lists it');

  const item = await viewer.waitForSelector(`#feed [data-id="${arId}"]`);
  assert(await item.$eval('.comment-text', (n) => n.getAttribute('dir')) === 'rtl', 'viewer feed item\'s text has dir="rtl"');
  const shown = await item.$eval('.comment-text', (n) => n.textContent);
  assert(shown === ARABIC, 'viewer feed shows the exact Arabic text');

  // --- upvote ---
  await item.$eval('[data-action=vote]', (b) => b.click());
  await viewer.waitForFunction((id) => document.querySelector(`#feed [data-id="${id}"] .vote-count`)?.textContent === '1', arId);
  check('upvote counted (votes = 1)');

  // --- HTML stays text ---
  await postComment(viewer, XSS);
  const xssId = await queuedId(studio, XSS);
  check(`studio queue shows the HTML-looking comment as text (id ${xssId})`);
  await studio.click(`#queue [data-id="${xssId}"] [data-action=approve]`);
  await studio.waitForSelector(`#queue [data-id="${xssId}"]`, { state: 'detached' });
  check('approved with the Approve button');
  const xssItem = await viewer.waitForSelector(`#feed [data-id="${xssId}"]`);
  const xssShown = await xssItem.$eval('.comment-text', (n) => n.textContent);
  assert(xssShown === XSS, 'viewer feed shows the markup as literal text');
  assert(await viewer.$$eval('#feed img', (n) => n.length) === 0, 'no <img> element was created in the viewer feed');
  assert(await studio.$$eval('#queue img, #approved img', (n) => n.length) === 0, 'no <img> element was created in the studio');
  await viewer.waitForTimeout(300);
  assert(await viewer.evaluate(() => window.__xss) === undefined, 'window.__xss is undefined on the viewer page');
  assert(await studio.evaluate(() => window.__xss) === undefined, 'window.__xss is undefined on the studio page');

  // --- CSP and script errors ---
  for (const [label, page] of [['viewer', viewer], ['studio', studio]]) {
    const violations = await page.evaluate(() => window.__csp || []);
    for (const v of violations) problems.csp.push(`${label}: ${v}`);
  }
  if (problems.consoleErrors.length) log(`console errors (recorded):\n  ${problems.consoleErrors.join('\n  ')}`);
  assert(problems.csp.length === 0, `no CSP violations${problems.csp.length ? `: ${problems.csp.join('; ')}` : ''}`);
  assert(problems.pageErrors.length === 0, `no uncaught page errors${problems.pageErrors.length ? `: ${problems.pageErrors.join('; ')}` : ''}`);
}

main().then(
  () => { clearTimeout(hardTimer); return finish(0, 'viewer -> studio -> viewer flow works'); },
  (err) => { clearTimeout(hardTimer); return finish(1, err && err.stack ? err.stack : String(err)); },
);
