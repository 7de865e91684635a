// Shared set-up for the browser tests and benchmarks that drive a real sabla
// server with Debian Chromium (playwright-core, no bundled browser):
// server start on a free port with its own temp data dir, the first-start
// producer password, Chromium pages that record CSP violations and errors,
// studio login, a live session, viewer comments, and a minimal PNG decoder.
//
// Used by overlay.mjs and bench/overlay_latency.mjs (viewer_studio.mjs keeps
// its own copy of the server start).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.SABLA_CHROMIUM || '/usr/bin/chromium';
export const STATIC_DIR = path.resolve(here, '../../static');

// One run: owns the server, the browser and the temp dir, and always cleans up.
//   const h = new Harness({ tag: 'overlay', hardTimeoutMs: 120000 });
//   h.run(async () => { ... }, 'message on success');
export class Harness {
  constructor({ tag = 'e2e', hardTimeoutMs = 120_000, stepTimeoutMs = 15_000, quiet = false } = {}) {
    this.tag = tag;
    this.hardTimeoutMs = hardTimeoutMs;
    this.stepTimeoutMs = stepTimeoutMs;
    this.quiet = quiet;
    this.server = null;
    this.browser = null;
    this.dataDir = null;
    this.tempFiles = [];
    this.serverLog = [];
    this.problems = { csp: [], pageErrors: [], consoleErrors: [] };
    this.finished = false;
  }

  log(msg) { if (!this.quiet) console.log(`[${this.tag}] ${msg}`); }
  check(msg) { if (!this.quiet) console.log(`[${this.tag}] ok: ${msg}`); }
  assert(cond, msg) {
    if (!cond) throw new Error(msg);
    this.check(msg);
  }

  // A temp dir removed at the end (unless SABLA_E2E_KEEP is set).
  tempDir(prefix) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.tempFiles.push(dir);
    return dir;
  }

  // Stops the server (SIGTERM, then SIGKILL after 3 s); its data dir stays
  // until cleanup, so a test can start another server afterwards.
  async stopServer() {
    const s = this.server;
    this.server = null;
    if (this.dataDir) { this.tempFiles.push(this.dataDir); this.dataDir = null; }
    if (s && s.exitCode === null && s.signalCode === null) {
      await new Promise((resolve) => {
        const t = setTimeout(() => { try { s.kill('SIGKILL'); } catch { /* gone */ } resolve(); }, 3000);
        s.once('exit', () => { clearTimeout(t); resolve(); });
        try { s.kill('SIGTERM'); } catch { clearTimeout(t); resolve(); }
      });
    }
  }

  async cleanup() {
    if (this.browser) { const b = this.browser; this.browser = null; await b.close().catch(() => {}); }
    await this.stopServer();
    if (!process.env.SABLA_E2E_KEEP) {
      for (const dir of [this.dataDir, ...this.tempFiles]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    } else {
      this.log(`kept: ${[this.dataDir, ...this.tempFiles].filter(Boolean).join(' ')}`);
    }
    this.dataDir = null;
    this.tempFiles = [];
  }

  async finish(code, message) {
    if (this.finished) return;
    this.finished = true;
    if (code !== 0) {
      console.error(`[${this.tag}] FAIL: ${message}`);
      if (this.problems.consoleErrors.length) console.error(`[${this.tag}] console errors:\n  ${this.problems.consoleErrors.join('\n  ')}`);
      if (this.serverLog.length) console.error(`[${this.tag}] last server output:\n  ${this.serverLog.slice(-40).join('\n  ')}`);
    } else if (message) {
      console.log(`[${this.tag}] PASS: ${message}`);
    }
    await this.cleanup().catch(() => {});
    process.exit(code);
  }

  // Runs `main` under the hard timeout; exits the process with the result.
  run(main, successMessage) {
    const hardTimer = setTimeout(() => { this.finish(2, `hard timeout after ${this.hardTimeoutMs / 1000} s`); }, this.hardTimeoutMs);
    process.on('SIGINT', () => this.finish(130, 'interrupted'));
    process.on('SIGTERM', () => this.finish(143, 'terminated'));
    main().then(
      () => { clearTimeout(hardTimer); return this.finish(0, successMessage); },
      (err) => { clearTimeout(hardTimer); return this.finish(1, err && err.stack ? err.stack : String(err)); },
    );
  }

  // Starts `binary serve` and resolves {port, password, base, passwords}.
  // `users` ([{name, role}]) are created first with `sabla user add`; then the
  // server makes no first-start account, so include a producer.
  // `password` is the producer's (first-start or created).
  // `env` adds environment variables; video is off unless SABLA_VIDEO_SOURCE is given.
  // `args` are appended to `serve` (e.g. ['--config', file]).
  startServer(binary, { users = [], env: extraEnv = {}, args = [] } = {}) {
    if (!binary) throw new Error('usage: node <script> path/to/sabla');
    if (!fs.existsSync(binary)) throw new Error(`no server binary at ${binary}`);
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `sabla-${this.tag}-`));
    const passwords = {};
    for (const u of users) {
      const r = spawnSync(binary, ['user', 'add', u.name, '--role', u.role, '--data', this.dataDir], { encoding: 'utf8', timeout: 20_000 });
      const m = /password:\s*(\S+)/.exec(r.stdout || '');
      if (r.status !== 0 || !m) throw new Error(`sabla user add ${u.name} failed (exit ${r.status}): ${(r.stderr || '').trim()}`);
      passwords[u.name] = m[1];
    }
    const preset = users.find((u) => u.role === 'producer');
    const env = { ...process.env };
    // Serve this checkout's pages, whichever tree the binary was built from.
    if (!env.SABLA_STATIC_DIR) env.SABLA_STATIC_DIR = STATIC_DIR;
    if (!env.SABLA_VIDEO_SOURCE) env.SABLA_VIDEO_SOURCE = 'off';
    Object.assign(env, extraEnv);
    this.server = spawn(binary, ['serve', '--port', '0', '--bind', '127.0.0.1', '--data', this.dataDir, ...args], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = this.server;
    return new Promise((resolve, reject) => {
      let port = null;
      let password = preset ? passwords[preset.name] : null;
      let graceTimer = null;
      const done = () => { clearTimeout(graceTimer); resolve({ port, password, passwords, base: `http://127.0.0.1:${port}` }); };
      const onLine = (line) => {
        this.serverLog.push(line);
        if (this.serverLog.length > 500) this.serverLog.splice(0, 100);
        const pw = /password:\s*(\S+)/.exec(line);
        if (pw && !password) password = pw[1];
        const m = /listening on http:\/\/(?:localhost|127\.0\.0\.1|\[::1\]):(\d+)/.exec(line);
        if (m && !port) {
          port = Number(m[1]);
          if (password) done(); else graceTimer = setTimeout(done, 2000);
        } else if (port && password) done();
      };
      readline.createInterface({ input: server.stdout }).on('line', onLine);
      readline.createInterface({ input: server.stderr }).on('line', onLine);
      server.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
      server.once('exit', (code, signal) => reject(new Error(`server exited early (code ${code}, signal ${signal})`)));
      setTimeout(() => reject(new Error('server did not print "listening on http://localhost:PORT" within 20 s')), 20_000);
    });
  }

  async launch() {
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-quic',
        '--no-first-run', '--disable-component-update', '--disable-sync',
        // Keep timers and rendering running in pages that are not in front.
        '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
        '--disable-backgrounding-occluded-windows'],
    });
    this.log(`browser ${this.browser.version()}`);
    return this.browser;
  }

  watchPage(page, label) {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = `${label}: ${msg.text()}`;
      this.problems.consoleErrors.push(text);
      if (/Content Security Policy/i.test(msg.text())) this.problems.csp.push(text);
    });
    page.on('pageerror', (err) => this.problems.pageErrors.push(`${label}: ${err.message}`));
  }

  async newPage(label, { width = 1280, height = 900, locale = 'ar' } = {}) {
    const context = await this.browser.newContext({ viewport: { width, height }, locale });
    // Runs before page scripts (not subject to the page CSP): records violations.
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    const page = await context.newPage();
    page.setDefaultTimeout(this.stepTimeoutMs);
    this.watchPage(page, label);
    return page;
  }

  // Collects CSP violations from the pages; asserts none and no uncaught errors.
  async assertCleanPages(pages) {
    for (const [label, page] of Object.entries(pages)) {
      const violations = await page.evaluate(() => window.__csp || []);
      for (const v of violations) this.problems.csp.push(`${label}: ${v}`);
    }
    if (this.problems.consoleErrors.length) this.log(`console errors (recorded):\n  ${this.problems.consoleErrors.join('\n  ')}`);
    this.assert(this.problems.csp.length === 0, `no CSP violations${this.problems.csp.length ? `: ${this.problems.csp.join('; ')}` : ''}`);
    this.assert(this.problems.pageErrors.length === 0, `no uncaught page errors${this.problems.pageErrors.length ? `: ${this.problems.pageErrors.join('; ')}` : ''}`);
  }
}

// Logs in on /studio with the form and waits for the snapshot.
export async function loginStudio(h, page, base, password, name = 'producer') {
  const resp = await page.goto(`${base}/studio`);
  h.assert(resp.status() === 200, 'GET /studio -> 200');
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#studio[data-state="ready"]');
  h.check(`studio logged in as ${name} and received its snapshot`);
}

// Makes sure a session is live (same-origin fetch from the logged-in studio page).
export async function ensureLiveSession(h, studio) {
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
  h.check(`live session ${result.id} (${result.created ? 'created and started' : 'already live'})`);
  return result.id;
}

// Sends comments from a viewer page over its own viewer socket (an in-page
// WebSocket: the page's origin is the server's), as `name` if given.
// Resolves the acks.
export async function postViewerComments(viewer, texts, name = '') {
  return viewer.evaluate(async ({ list, name }) => {
    const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.viewer.v1');
    const acks = [];
    await new Promise((resolve, reject) => {
      ws.addEventListener('error', () => reject(new Error('viewer socket failed')));
      ws.addEventListener('message', function first(ev) {
        const m = JSON.parse(ev.data);
        if (m.type === 'welcome') { ws.removeEventListener('message', first); resolve(); }
      });
    });
    if (name) {
      await new Promise((resolve) => {
        ws.addEventListener('message', function named(ev) {
          const m = JSON.parse(ev.data);
          if (m.type === 'welcome') { ws.removeEventListener('message', named); resolve(); }
        });
        ws.send(JSON.stringify({ type: 'hello', name }));
      });
    }
    for (let i = 0; i < list.length; i++) {
      const clientId = `e2e-${Date.now()}-${i}`;
      const ack = await new Promise((resolve) => {
        const on = (ev) => {
          const m = JSON.parse(ev.data);
          if ((m.type === 'ack' || m.type === 'error') && m.client_id === clientId) { ws.removeEventListener('message', on); resolve(m); }
        };
        ws.addEventListener('message', on);
        ws.send(JSON.stringify({ type: 'comment', client_id: clientId, text: list[i] }));
      });
      acks.push(ack);
      // Respect slow mode / rate limits if the server asks us to wait.
      if (ack.type === 'error' && ack.retry_after_ms) {
        await new Promise((r) => setTimeout(r, ack.retry_after_ms + 50));
        i--;
        acks.pop();
      }
    }
    ws.close();
    return acks;
  }, { list: texts, name });
}

// Opens `n` fresh viewer sockets in the page (each is a new viewer) and
// upvotes comment `id` from each; resolves the vote counts seen.
export async function voteFromNewViewers(page, id, n) {
  return page.evaluate(async ({ id, n }) => {
    const counts = [];
    for (let i = 0; i < n; i++) {
      const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.viewer.v1');
      await new Promise((resolve, reject) => {
        ws.addEventListener('error', () => reject(new Error('viewer socket failed')));
        ws.addEventListener('message', function first(ev) {
          if (JSON.parse(ev.data).type === 'welcome') { ws.removeEventListener('message', first); resolve(); }
        });
      });
      const count = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 5000);
        ws.addEventListener('message', (ev) => {
          const m = JSON.parse(ev.data);
          const items = m.type === 'batch' ? m.items : [m];
          for (const it of items) {
            if (it.type === 'votes' && it.id === id) { clearTimeout(timer); resolve(it.votes); }
            if (it.type === 'error') { clearTimeout(timer); resolve(`error:${it.code}`); }
          }
        });
        ws.send(JSON.stringify({ type: 'vote', id }));
      });
      counts.push(count);
      ws.close();
    }
    return counts;
  }, { id, n });
}

// Opens one fresh viewer socket per entry of `ballots` (each a list of
// option indexes) and casts it in poll `poll`; resolves what each got back
// ("voted" options, or "error:<code>").
export async function pollVotesFromNewViewers(page, poll, ballots) {
  return page.evaluate(async ({ poll, ballots }) => {
    const out = [];
    for (const options of ballots) {
      const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.viewer.v1');
      await new Promise((resolve, reject) => {
        ws.addEventListener('error', () => reject(new Error('viewer socket failed')));
        ws.addEventListener('message', function first(ev) {
          if (JSON.parse(ev.data).type === 'welcome') { ws.removeEventListener('message', first); resolve(); }
        });
      });
      out.push(await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 5000);
        ws.addEventListener('message', (ev) => {
          const m = JSON.parse(ev.data);
          for (const it of m.type === 'batch' ? m.items : [m]) {
            if (it.type === 'voted' && it.poll === poll) { clearTimeout(timer); resolve(it.options); }
            if (it.type === 'error') { clearTimeout(timer); resolve(`error:${it.code}`); }
          }
        });
        ws.send(JSON.stringify({ type: 'poll_vote', poll, options }));
      }));
      ws.close();
    }
    return out;
  }, { poll, ballots });
}

// Approves comment `id` with its Approve button in the studio queue and waits
// until the studio lists it as approved.
export async function approveInStudio(studio, id) {
  await studio.click(`#queue [data-id="${id}"] [data-action=approve]`);
  await studio.waitForSelector(`#approved [data-id="${id}"]`);
}

// A studio control socket opened inside a signed-in studio page (its
// cookie authenticates it): for the commands the page has no button for, or
// where clicking through the panels would cost seconds (polls, outcomes).
export async function openControl(studio) {
  await studio.evaluate(() => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.studio.v1');
    const ctl = { ws, log: [], seq: 0 };
    window.__ctl = ctl;
    ws.addEventListener('error', () => reject(new Error('control socket failed')));
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(ev.data);
      for (const it of m.type === 'batch' ? m.items : [m]) {
        ctl.log.push(it);
        if (it.type === 'snapshot') resolve();
      }
    });
  }));
}

// Sends one studio command over that socket and resolves its ok or error.
export async function control(studio, msg) {
  return studio.evaluate(async (m) => {
    const ctl = window.__ctl;
    const op = `p${++ctl.seq}`;
    ctl.ws.send(JSON.stringify({ ...m, op }));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = ctl.log.find((x) => (x.type === 'ok' || x.type === 'error') && x.op === op);
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no reply to ${m.type}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  }, msg);
}

// ---------- PNG (8-bit RGB/RGBA, non-interlaced: what Chromium and Cairo write) ----------

export function decodePng(buffer) {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  for (let i = 0; i < 8; i++) if (buffer[i] !== sig[i]) throw new Error('not a PNG');
  let pos = 8;
  let width = 0; let height = 0; let bitDepth = 0; let colorType = 0; let interlace = 0;
  const idat = [];
  while (pos < buffer.length) {
    const len = buffer.readUInt32BE(pos);
    const type = buffer.toString('latin1', pos + 4, pos + 8);
    const data = buffer.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      bitDepth = data[8]; colorType = data[9]; interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (bitDepth !== 8 || (colorType !== 6 && colorType !== 2) || interlace !== 0) {
    throw new Error(`unsupported PNG (bit depth ${bitDepth}, colour type ${colorType}, interlace ${interlace})`);
  }
  const channels = colorType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? line[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a); const pb = Math.abs(p - b); const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      line[x] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = line[x * channels];
      out[o + 1] = line[x * channels + 1];
      out[o + 2] = line[x * channels + 2];
      out[o + 3] = channels === 4 ? line[x * channels + 3] : 255;
    }
    prev = line;
  }
  return { width, height, data: out };
}

// Bounding box {left, top, right, bottom} (inclusive) of the pixels for which
// pred(r, g, b, a) holds, within `within` (default: the whole image); null if none.
export function bbox(img, pred, within = null) {
  const x0 = within ? within.left : 0; const x1 = within ? within.right : img.width - 1;
  const y0 = within ? within.top : 0; const y1 = within ? within.bottom : img.height - 1;
  let left = Infinity; let top = Infinity; let right = -1; let bottom = -1;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const o = (y * img.width + x) * 4;
      if (pred(img.data[o], img.data[o + 1], img.data[o + 2], img.data[o + 3])) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  return right < 0 ? null : { left, top, right, bottom };
}
