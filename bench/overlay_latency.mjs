#!/usr/bin/env node
// On-air latency: how long from a producer's `air` to the comment being in
// the /overlay page's DOM, through a real sabla server and real Chromium.
//
//   node bench/overlay_latency.mjs path/to/sabla [count=100]
//
// Set-up as tests/e2e/overlay.mjs (server on a free port with a temp data dir,
// producer login in /studio, two approved viewer comments, /overlay at
// 1920x1080). Then `count` times, alternating the two comments: a studio
// WebSocket opened inside the studio page sends {"type":"air","id":…}; a
// MutationObserver in the overlay page records when #comments gets the
// element with that id. Both pages stamp with performance.timeOrigin +
// performance.now() (one browser, one machine clock). Prints one JSON line:
//   {"bench":"overlay_latency","n":100,"median_ms":…,"p90_ms":…,"max_ms":…,…}
// Needs tests/e2e/node_modules (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci).
import { Harness, loginStudio, ensureLiveSession, postViewerComments, approveInStudio } from '../tests/e2e/harness.mjs';

const binary = process.argv[2];
const count = Math.max(1, Number(process.argv[3]) || 100);
const h = new Harness({ tag: 'overlay-latency', hardTimeoutMs: 180_000, quiet: !process.env.VERBOSE });

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);

async function main() {
  const { base, password } = await h.startServer(binary);
  await h.launch();
  const studio = await h.newPage('studio', { width: 1440, height: 1000 });
  await loginStudio(h, studio, base, password);
  await ensureLiveSession(h, studio);

  const viewer = await h.newPage('viewer');
  await viewer.goto(`${base}/`);
  const acks = await postViewerComments(viewer, ['سؤال أول عن الميزانية؟', 'سؤال ثانٍ عن الطرق والمدارس؟']);
  const ids = acks.map((a) => a.id);
  if (!acks.every((a) => a.type === 'ack' && Number.isInteger(a.id))) throw new Error(`comments not stored: ${JSON.stringify(acks)}`);
  for (const [i, id] of ids.entries()) {
    if (acks[i].status === 'pending') {
      await studio.waitForSelector(`#queue [data-id="${id}"]`);
      await approveInStudio(studio, id);
    }
  }
  h.check(`comments ${ids.join(', ')} approved`);

  const overlay = await h.newPage('overlay', { width: 1920, height: 1080 });
  await overlay.goto(`${base}/overlay`);
  await overlay.waitForFunction(() => document.body.dataset.version !== undefined);
  // Record when each on-air comment element enters the DOM (and the next frame after it).
  await overlay.evaluate(() => {
    window.__seen = [];
    const now = () => performance.timeOrigin + performance.now();
    const root = document.querySelector('#comments');
    new MutationObserver((records) => {
      for (const rec of records) {
        for (const n of rec.addedNodes) {
          if (n.nodeType !== 1 || !n.dataset.id) continue;
          const entry = { id: Number(n.dataset.id), dom: now(), frame: null };
          window.__seen.push(entry);
          requestAnimationFrame(() => { entry.frame = now(); });
        }
      }
    }).observe(root, { childList: true });
  });

  // A studio socket of its own inside the studio page (cookie and Origin are the page's).
  await studio.evaluate(async () => {
    const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.studio.v1');
    window.__benchReplies = new Map();
    await new Promise((resolve, reject) => {
      ws.addEventListener('error', () => reject(new Error('studio socket failed')));
      ws.addEventListener('message', (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type === 'snapshot') resolve();
        if ((m.type === 'ok' || m.type === 'error') && m.op) window.__benchReplies.set(m.op, m);
      });
    });
    window.__benchSocket = ws;
  });

  // Start from a clear screen so the first air adds an element.
  await studio.evaluate(() => window.__benchSocket.send(JSON.stringify({ type: 'clear', op: 'bench-clear' })));
  await overlay.waitForFunction(() => document.querySelectorAll('#comments [data-id]').length === 0);

  const dom = [];
  const frame = [];
  for (let i = 0; i < count; i++) {
    const id = ids[i % 2];
    const before = await overlay.evaluate(() => window.__seen.length);
    const sentAt = await studio.evaluate(({ cid, op }) => {
      const t = performance.timeOrigin + performance.now();
      window.__benchSocket.send(JSON.stringify({ type: 'air', id: cid, add: false, op }));
      return t;
    }, { cid: id, op: `bench-${i}` });
    const seen = await (await overlay.waitForFunction(({ n, cid }) => {
      const e = window.__seen[n];
      if (!e) return null;
      if (e.id !== cid) return { wrong: e.id };
      return e.frame !== null ? e : null;
    }, { n: before, cid: id }, { timeout: 10_000 })).jsonValue();
    if (seen.wrong !== undefined) throw new Error(`iteration ${i}: expected comment ${id} on air, got ${seen.wrong}`);
    const reply = await studio.evaluate((op) => window.__benchReplies.get(op) || null, `bench-${i}`);
    if (reply && reply.type === 'error') throw new Error(`air refused: ${JSON.stringify(reply)}`);
    dom.push(seen.dom - sentAt);
    frame.push(seen.frame - sentAt);
  }

  const sd = [...dom].sort((a, b) => a - b);
  const sf = [...frame].sort((a, b) => a - b);
  const result = {
    bench: 'overlay_latency',
    n: dom.length,
    median_ms: r2(quantile(sd, 0.5)),
    p90_ms: r2(quantile(sd, 0.9)),
    max_ms: r2(sd[sd.length - 1]),
    min_ms: r2(sd[0]),
    mean_ms: r2(dom.reduce((a, b) => a + b, 0) / dom.length),
    next_frame_median_ms: r2(quantile(sf, 0.5)),
    next_frame_p90_ms: r2(quantile(sf, 0.9)),
    next_frame_max_ms: r2(sf[sf.length - 1]),
  };
  console.log(JSON.stringify(result));
}

h.run(main, null);
