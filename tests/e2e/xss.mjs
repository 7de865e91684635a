#!/usr/bin/env node
// Browser XSS corpus: every payload of xss-payloads.json goes in as a
// viewer's comment, as the viewer's display name, as a studio edit, as
// lower-third fields and the ticker, as session titles, as poll questions
// and options and as outcome notes and owners; the viewer, studio, overlay,
// archive, report and decisions pages render them in headless
// Chromium. Required: no payload runs (detector: a page-wide __xss() /
// window.__xss set, reported through page.exposeBinding), every value is
// shown literally as text where it appears, and no markup a payload carries
// (event handlers, scripts, frames, javascript: links) exists in the DOM.
//
// The pages run with Content-Security-Policy *bypassed* (bypassCSP): the CSP
// would stop inline handlers by itself, and the test is about the pages'
// own code never turning data into markup. The CSP is the second wall.
//
// Positive control, last: on a fresh page of the same kind (the served
// viewer page, CSP bypassed, same detector) every payload with a browser
// context is run the way a careless page would (innerHTML/fragment, a
// clicked link, a naive template or markdown renderer...) and must fire
// the detector — so the detector works and each payload is live.
//
//   node tests/e2e/xss.mjs path/to/sabla
//
// Exit code 0 = pass. Hard timeout 170 s; kills the server and removes its
// temp data dir in every case.
import fs from 'node:fs';
import { Harness, loginStudio, ensureLiveSession, openControl } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'xss', hardTimeoutMs: 170_000 });
const corpus = JSON.parse(fs.readFileSync(new URL('./xss-payloads.json', import.meta.url), 'utf8')).payloads;

// Every detector report: {label, value}.
const hits = [];

// A context whose pages carry the detector and ignore the served CSP.
async function detectorPage(label, { width = 1280, height = 900, locale = 'ar', watch = true } = {}) {
  const context = await h.browser.newContext({ bypassCSP: true, viewport: { width, height }, locale });
  await context.exposeBinding('__xssHit', (_source, value) => { hits.push({ label, value: String(value) }); });
  // Runs before the page's scripts, in every frame (iframes too).
  await context.addInitScript(() => {
    const report = (value) => { try { window.__xssHit(String(value)); } catch { /* detached frame */ } };
    Object.defineProperty(window, '__xss', { configurable: false, get() { return report; }, set(v) { report(v); } });
    for (const name of ['alert', 'confirm', 'prompt', 'print']) window[name] = (v) => report(`${name}:${v}`);
  });
  const page = await context.newPage();
  page.setDefaultTimeout(h.stepTimeoutMs);
  if (watch) h.watchPage(page, label);
  return page;
}

// ---------- in-page studio control socket (harness.mjs openControl; batches here) ----------

// Sends studio actions in order and resolves their replies (ok or error).
async function control(studio, msgs) {
  return studio.evaluate(async (list) => {
    const ctl = window.__ctl;
    const ops = list.map((m) => {
      const op = `x${++ctl.seq}`;
      ctl.ws.send(JSON.stringify({ ...m, op }));
      return op;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const replies = ops.map((op) => ctl.log.find((x) => (x.type === 'ok' || x.type === 'error') && x.op === op));
      if (replies.every(Boolean)) return replies;
      if (Date.now() > deadline) throw new Error(`no reply to ${ops.filter((_, i) => !replies[i]).join(' ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }, msgs);
}

async function controlLogLength(studio) { return studio.evaluate(() => window.__ctl.log.length); }

// The newest overlay state pushed after log index `from`, once `n` overlay messages arrived.
async function overlayAfter(studio, from, n) {
  const handle = await studio.waitForFunction(({ from, n }) => {
    const list = window.__ctl.log.slice(from).filter((m) => m.type === 'overlay');
    return list.length >= n ? list[list.length - 1].state : null;
  }, { from, n });
  return handle.jsonValue();
}

// ---------- posting from in-page viewer sockets ----------

// One fresh viewer per payload (its own rate-limit bucket), named with the
// payload, posting the payload. Resolves [{i, id, status, name}].
async function postAsViewers(page, texts) {
  return page.evaluate(async (list) => {
    async function one(text, i) {
      const ws = new WebSocket(`ws://${location.host}/ws`, 'sabla.viewer.v1');
      const queue = [];
      let wake = null;
      ws.addEventListener('message', (ev) => {
        const m = JSON.parse(ev.data);
        for (const it of m.type === 'batch' ? m.items : [m]) queue.push(it);
        if (wake) wake();
      });
      const next = async (pred) => {
        const deadline = Date.now() + 8000;
        for (;;) {
          const k = queue.findIndex(pred);
          if (k >= 0) return queue.splice(k, 1)[0];
          if (Date.now() > deadline) throw new Error(`viewer ${i}: timed out`);
          await new Promise((r) => { wake = r; setTimeout(r, 100); });
        }
      };
      await next((m) => m.type === 'welcome');
      ws.send(JSON.stringify({ type: 'hello', name: text }));
      const named = await next((m) => m.type === 'welcome' || m.type === 'error');
      if (named.type === 'error') throw new Error(`viewer ${i}: hello refused: ${named.code}`);
      const clientId = `xss-${i}`;
      ws.send(JSON.stringify({ type: 'comment', client_id: clientId, text }));
      const ack = await next((m) => (m.type === 'ack' || m.type === 'error') && m.client_id === clientId);
      ws.close();
      if (ack.type !== 'ack') throw new Error(`viewer ${i}: comment refused: ${ack.code} ${ack.message}`);
      return { i, id: ack.id, status: ack.status, name: named.name };
    }
    const out = [];
    // A few at a time: well under the per-address connection cap.
    for (let k = 0; k < list.length; k += 8) {
      out.push(...await Promise.all(list.slice(k, k + 8).map((t, j) => one(t, k + j))));
    }
    return out;
  }, texts);
}

// ---------- what the pages show ----------

// Markup a payload could have smuggled in: handlers, scripts, frames,
// dangerous URLs, style elements, the corpus's own link id.
async function domProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const bad = /^\s*(javascript|vbscript|data\s*:\s*text\/html)/i;
    for (const node of document.querySelectorAll('*')) {
      for (const attr of node.attributes) {
        if (/^on/i.test(attr.name)) problems.push(`<${node.localName} ${attr.name}>`);
        if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'srcdoc'].includes(attr.name.toLowerCase()) && bad.test(attr.value)) {
          problems.push(`<${node.localName} ${attr.name}="${attr.value.slice(0, 40)}">`);
        }
        if (attr.name === 'srcdoc') problems.push(`<${node.localName} srcdoc>`);
      }
      const tag = node.localName;
      // The studio's own overlay preview is the one frame the pages ship.
      if (tag === 'iframe' && node.id === 'onair-preview' && node.getAttribute('src') === '/overlay') continue;
      if (['iframe', 'frame', 'object', 'embed', 'base', 'template', 'marquee', 'math', 'noscript', 'audio'].includes(tag)) problems.push(`<${tag}>`);
      if (tag === 'meta' && node.hasAttribute('http-equiv')) problems.push('<meta http-equiv>');
      if (tag === 'script' && !/^\/(assets|vendor)\//.test(node.getAttribute('src') || '')) problems.push('<script> not from /assets/ or /vendor/');
      if (tag === 'style' && node.closest('body')) problems.push('<style> in body');
      if (node.id === 'xss-link') problems.push('#xss-link');
    }
    if (document.querySelectorAll('img').length) {
      for (const img of document.querySelectorAll('img')) {
        if (!(img.getAttribute('src') || '').startsWith('/assets/')) problems.push(`<img src="${img.getAttribute('src')}">`);
      }
    }
    return problems;
  });
}

// [{id, name, text}] of the comment items under `container`.
async function items(page, container) {
  return page.$$eval(`${container} [data-id]`, (nodes) => nodes.map((n) => ({
    id: Number(n.dataset.id),
    name: (n.querySelector('.comment-name, .comment-author') || {}).textContent ?? null,
    text: (n.querySelector('.comment-text') || {}).textContent ?? null,
  })));
}

// Every expected {id, name, text} must be shown exactly (as text).
function checkItems(label, shown, expected, { names = true } = {}) {
  const byId = new Map(shown.map((x) => [x.id, x]));
  const wrong = [];
  for (const e of expected) {
    const s = byId.get(e.id);
    if (!s) { wrong.push(`#${e.id} missing`); continue; }
    if (s.text !== e.text) wrong.push(`#${e.id} text ${JSON.stringify(s.text)} != ${JSON.stringify(e.text)}`);
    if (names && s.name !== e.name) wrong.push(`#${e.id} name ${JSON.stringify(s.name)} != ${JSON.stringify(e.name)}`);
  }
  h.assert(wrong.length === 0, `${label}: ${expected.length} comments shown literally${wrong.length
    ? ` — ${wrong.slice(0, 5).join('; ')} (payloads run so far: ${hits.map((x) => `${x.label}:${x.value}`).join(', ') || 'none'})` : ''}`);
}

async function assertNoMarkup(label, page) {
  const problems = await domProblems(page);
  h.assert(problems.length === 0, `${label}: no markup from payloads in the DOM${problems.length ? ` — ${problems.slice(0, 8).join(' ')}` : ''}`);
}

function assertNoHits(when) {
  h.assert(hits.length === 0, `${when}: no payload ran${hits.length ? ` — ${hits.map((x) => `${x.label}:${x.value}`).join(', ')}` : ''}`);
}

// Text the server should keep unchanged: no controls, bidi or invisible
// characters, no leading/trailing or double spaces.
const plain = (s) => !/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]|^\s|\s$|\s\s/.test(s);

async function main() {
  h.assert(corpus.length >= 50, `corpus holds ${corpus.length} payloads`);
  const texts = corpus.map((p) => p.text);
  const { base, password } = await h.startServer(binary);
  await h.launch();

  // --- studio (logged in), viewer, overlay ---
  const studio = await detectorPage('studio');
  await loginStudio(h, studio, base, password);
  await openControl(studio);
  const commentSessionId = await ensureLiveSession(h, studio);
  const viewer = await detectorPage('viewer');
  await viewer.goto(`${base}/`);
  await viewer.waitForSelector('#conn[data-state="open"]').catch(() => viewer.waitForTimeout(500));
  const overlay = await detectorPage('overlay', { width: 1920, height: 1080 });
  await overlay.goto(`${base}/overlay`);
  await overlay.waitForSelector('#stage[data-conn="open"]').catch(() => overlay.waitForTimeout(500));

  // --- comments and names: one viewer per payload ---
  const logStart = await controlLogLength(studio);
  const posted = await postAsViewers(viewer, texts);
  h.assert(posted.length === corpus.length && posted.every((p) => p.status === 'pending'),
    `${posted.length} payloads posted as comments by viewers named with them, all pending review`);
  const pendingMsgs = await studio.waitForFunction(({ from, n }) => {
    const list = window.__ctl.log.slice(from).filter((m) => m.type === 'pending');
    return list.length >= n ? list.map((m) => m.comment) : null;
  }, { from: logStart, n: posted.length }).then((x) => x.jsonValue());
  const stored = new Map(pendingMsgs.map((c) => [c.id, c]));
  const comments = posted.map((p) => ({ id: p.id, i: p.i, name: stored.get(p.id).name, text: stored.get(p.id).text }));
  const literal = comments.filter((c) => plain(texts[c.i]) && c.text === texts[c.i]).length;
  const plainCount = texts.filter(plain).length;
  h.assert(literal === plainCount, `the server stores the markup unescaped (${literal}/${plainCount} plain payloads byte for byte)`);
  h.assert(comments.every((c) => c.name === posted.find((p) => p.id === c.id).name && c.name.length > 0), 'display names stored as the welcome reported them');

  await studio.waitForFunction((n) => document.querySelectorAll('#queue [data-id]').length >= n, comments.length);
  checkItems('studio review queue', await items(studio, '#queue'), comments);
  await assertNoMarkup('studio with the queue', studio);
  assertNoHits('queue rendered');

  // --- approve all: the viewer feed and the studio's approved list ---
  const approvals = await control(studio, comments.map((c) => ({ type: 'approve', id: c.id })));
  h.assert(approvals.every((r) => r.type === 'ok'), `${approvals.length} comments approved`);
  await viewer.waitForFunction((n) => document.querySelectorAll('#feed [data-id]').length >= n, comments.length);
  checkItems('viewer feed', await items(viewer, '#feed'), comments);
  await studio.waitForFunction((n) => document.querySelectorAll('#approved [data-id]').length >= n, comments.length);
  checkItems('studio approved list', await items(studio, '#approved'), comments);
  await assertNoMarkup('viewer with the feed', viewer);
  assertNoHits('feed rendered');

  // --- studio edits: comment k gets payload k+1 ---
  const editFrom = await controlLogLength(studio);
  const edits = await control(studio, comments.map((c, k) => ({ type: 'edit', id: c.id, text: texts[(c.i + 1) % texts.length] })));
  h.assert(edits.every((r) => r.type === 'ok'), `${edits.length} comments edited to other payloads`);
  const updated = await studio.waitForFunction(({ from, n }) => {
    const list = window.__ctl.log.slice(from).filter((m) => m.type === 'updated' && m.action === 'edit');
    return list.length >= n ? list.map((m) => m.comment) : null;
  }, { from: editFrom, n: edits.length }).then((x) => x.jsonValue());
  const edited = new Map(updated.map((c) => [c.id, c]));
  for (const c of comments) c.text = edited.get(c.id).text;
  await viewer.waitForFunction((list) => list.every((c) => {
    const n = document.querySelector(`#feed [data-id="${c.id}"] .comment-text`);
    return n && n.textContent === c.text;
  }), comments);
  checkItems('viewer feed after edits', await items(viewer, '#feed'), comments);
  await studio.waitForFunction((list) => list.every((c) => {
    const n = document.querySelector(`#approved [data-id="${c.id}"] .comment-text`);
    return n && n.textContent === c.text;
  }), comments);
  checkItems('studio approved list after edits', await items(studio, '#approved'), comments);
  assertNoHits('edits rendered');

  // --- on air: three at a time on the overlay page and the studio's on-air panel ---
  let aired = 0;
  for (let k = 0; k < comments.length; k += 3) {
    const group = comments.slice(k, k + 3);
    const replies = await control(studio, group.map((c, j) => ({ type: 'air', id: c.id, add: j > 0 })));
    if (!replies.every((r) => r.type === 'ok')) throw new Error(`air refused: ${JSON.stringify(replies)}`);
    await overlay.waitForFunction((ids) => ids.every((id) => document.querySelector(`#comments [data-id="${id}"] .comment-text`)), group.map((c) => c.id));
    const onScreen = await items(overlay, '#comments');
    checkItems(`overlay comments ${k + 1}-${k + group.length}`, onScreen, group);
    await studio.waitForFunction((ids) => ids.every((id) => document.querySelector(`#onair-now [data-id="${id}"]`)), group.map((c) => c.id));
    checkItems(`studio on-air panel ${k + 1}-${k + group.length}`, await items(studio, '#onair-now'), group);
    aired += group.length;
  }
  h.assert(aired === comments.length, `${aired} payload comments aired`);
  await assertNoMarkup('overlay with comments', overlay);
  await control(studio, [{ type: 'clear' }]);
  assertNoHits('aired comments rendered');

  // --- lower thirds and the ticker: seven payloads per change ---
  const LT = ['name_ar', 'name_en', 'title_ar', 'title_en', 'session_ar', 'session_en'];
  let ltShown = 0;
  for (let k = 0; k < texts.length; k += 7) {
    const pick = (j) => texts[(k + j) % texts.length];
    const lowerThird = { type: 'lower_third' };
    LT.forEach((f, j) => { lowerThird[f] = pick(j); });
    const from = await controlLogLength(studio);
    const replies = await control(studio, [lowerThird, { type: 'ticker', text: pick(6) }]);
    if (!replies.every((r) => r.type === 'ok')) throw new Error(`lower third/ticker refused: ${JSON.stringify(replies)}`);
    const state = await overlayAfter(studio, from, 2);
    const lt = state.lower_third;
    const expect = {
      '.lt-ar .lt-name': lt.name_ar, '.lt-ar .lt-title': lt.title_ar, '.lt-ar .lt-session': lt.session_ar,
      '.lt-en .lt-name': lt.name_en, '.lt-en .lt-title': lt.title_en, '.lt-en .lt-session': lt.session_en,
      '#ticker .ticker-text': state.ticker,
    };
    await overlay.waitForFunction((exp) => Object.entries(exp).every(([sel, v]) => {
      const n = document.querySelector(sel);
      return n && n.textContent === v;
    }), expect);
    const plainSent = [...LT.map((f, j) => [lt[f], pick(j)]), [state.ticker, pick(6)]].filter(([, sent]) => plain(sent) && [...sent].length <= 120);
    if (!plainSent.every(([got, sent]) => got === sent)) throw new Error(`lower third/ticker changed by the server: ${JSON.stringify(plainSent)}`);
    const extras = await studio.waitForFunction((want) => {
      const bdis = [...document.querySelectorAll('#onair-extras bdi')].map((b) => b.textContent);
      return want.every((w) => bdis.includes(w)) ? bdis : null;
    }, [lt.name_ar, lt.title_ar, lt.name_en, lt.title_en, state.ticker].filter((v) => v && v.trim())).then((x) => x.jsonValue());
    if (!extras.length) throw new Error('studio shows no lower third');
    ltShown += 7;
  }
  h.check(`${ltShown} payload placements as lower-third fields and ticker shown literally on the overlay and in the studio`);
  await assertNoMarkup('overlay with lower thirds', overlay);
  await assertNoMarkup('studio with on-air extras', studio);
  assertNoHits('lower thirds and ticker rendered');

  // --- an edit typed into the studio's own editor (textarea, Save) ---
  const [extra] = await postAsViewers(viewer, ['تعليق سيُحرَّر في الاستوديو']);
  const uiEdit = texts.find((t) => t.startsWith('<svg><foreignObject>')) || texts[0];
  await studio.click(`#queue [data-id="${extra.id}"] [data-action=edit]`);
  await studio.fill(`#queue [data-id="${extra.id}"] textarea.edit-text`, uiEdit);
  await studio.click(`#queue [data-id="${extra.id}"] [data-edit-action=save]`);
  await studio.waitForFunction(({ id, text }) => document.querySelector(`#queue [data-id="${id}"] .comment-text`)?.textContent === text,
    { id: extra.id, text: uiEdit });
  checkItems('studio queue after an edit in the studio editor', await items(studio, '#queue'), [{ id: extra.id, name: extra.name, text: uiEdit }]);
  await assertNoMarkup('studio after the editor', studio);
  assertNoHits('studio editor');

  // --- polls (questions and options) and outcome notes (issue 13) ---
  const pollReplies = [];
  for (let k = 0; k < texts.length; k += 6) {
    const pick = (j) => texts[(k + j) % texts.length];
    const [created] = await control(studio, [{
      type: 'poll_create', question_ar: pick(0), question_en: pick(1),
      options: [{ ar: pick(2), en: pick(3) }, { ar: pick(4), en: pick(5) }],
    }]);
    if (created.type !== 'ok') throw new Error(`poll_create refused: ${JSON.stringify(created)}`);
    const [opened] = await control(studio, [{ type: 'poll_open', id: created.poll.id }]);
    if (opened.type !== 'ok') throw new Error(`poll_open refused: ${JSON.stringify(opened)}`);
    pollReplies.push(opened.poll);
  }
  const arOr = (ar, en) => ar || en;
  await viewer.waitForFunction((n) => document.querySelectorAll('#polls-panel .poll').length === n, pollReplies.length);
  const shownPolls = await viewer.$$eval('#polls-panel .poll', (nodes) => nodes.map((n) => ({
    id: Number(n.dataset.poll),
    q: n.querySelector('.poll-question').textContent,
    options: [...n.querySelectorAll('.poll-choice')].map((b) => b.textContent),
  })));
  const wrongPolls = pollReplies.filter((p) => {
    const s = shownPolls.find((x) => x.id === p.id);
    return !s || s.q !== arOr(p.question_ar, p.question_en) ||
      JSON.stringify(s.options) !== JSON.stringify(p.options.map((o) => arOr(o.ar, o.en)));
  });
  h.assert(wrongPolls.length === 0, `viewer page: ${pollReplies.length} polls with payload questions and options shown literally${wrongPolls.length ? ` — ${wrongPolls.map((p) => p.id).join(',')}` : ''}`);
  for (const p of pollReplies.slice(0, 3)) {
    const [aired] = await control(studio, [{ type: 'poll_air', id: p.id, on: true }]);
    if (aired.type !== 'ok') throw new Error(`poll_air refused: ${JSON.stringify(aired)}`);
    await overlay.waitForFunction((want) => {
      const q = document.querySelector('#poll .poll-question');
      return q && q.textContent === want.q
        && JSON.stringify([...document.querySelectorAll('#poll .poll-label')].map((n) => n.textContent)) === JSON.stringify(want.options);
    }, { q: arOr(p.question_ar, p.question_en), options: p.options.map((o) => (p.question_ar ? arOr(o.ar, o.en) : arOr(o.en, o.ar))) });
  }
  await control(studio, [{ type: 'poll_air', id: pollReplies[2].id, on: false }]);
  h.check('3 payload polls aired: question and options shown literally on the overlay');
  const outcomeReplies = await control(studio, comments.slice(0, Math.ceil(texts.length / 3)).map((c, k) => ({
    type: 'outcome', id: c.id, status: 'studying', note_ar: texts[(3 * k) % texts.length],
    note_en: texts[(3 * k + 1) % texts.length], owner: texts[(3 * k + 2) % texts.length],
  })));
  h.assert(outcomeReplies.every((r) => r.type === 'ok'), `${outcomeReplies.length} outcomes recorded with payload notes and owners`);
  const decisions = await detectorPage('decisions');
  await decisions.goto(`${base}/decisions?session=${commentSessionId}`);
  await decisions.waitForFunction((n) => document.querySelectorAll('#decisions .decision').length === n, outcomeReplies.length);
  const shownNotes = await decisions.$$eval('#decisions .decision', (nodes) => nodes.map((n) => ({
    id: Number(n.dataset.id), note: (n.querySelector('.decision-note') || {}).textContent ?? '',
  })));
  const wrongNotes = outcomeReplies.filter((r) => {
    const s = shownNotes.find((x) => x.id === r.id);
    return !s || s.note !== arOr(r.outcome.note_ar, r.outcome.note_en);
  });
  h.assert(wrongNotes.length === 0, `decisions page: ${outcomeReplies.length} outcome notes shown literally${wrongNotes.length ? ` — ${wrongNotes.map((r) => r.id).join(',')}` : ''}`);
  await studio.waitForFunction((n) => document.querySelectorAll('#poll-list .decide-poll').length === n, pollReplies.length);
  for (const [label, page] of [['viewer with polls', viewer], ['overlay with polls', overlay], ['decisions page', decisions], ['studio with polls', studio]]) {
    await assertNoMarkup(label, page);
  }
  assertNoHits('polls and outcomes rendered');

  // --- session titles (HTTP API) ---
  const sessions = await studio.evaluate(async (list) => {
    const out = [];
    // The server refuses titles over 200 code points (400) rather than cutting them.
    const title = (s) => [...s].slice(0, 200).join('');
    for (let k = 0; k < list.length; k += 2) {
      const r = await fetch('/api/v1/sessions', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ title_ar: title(list[k]), title_en: title(list[(k + 1) % list.length]) }),
      });
      if (r.status !== 201) throw new Error(`POST /api/v1/sessions -> ${r.status}`);
      const body = await r.json();
      out.push(body.session || body);
    }
    return out;
  }, texts);
  h.assert(sessions.length * 2 >= texts.length, `${sessions.length} sessions created with payload titles`);
  const liveTitled = sessions[sessions.length - 1];
  const wentLive = await studio.evaluate(async (id) => (await fetch(`/api/v1/sessions/${id}/live`, { method: 'POST', credentials: 'same-origin' })).status, liveTitled.id);
  h.assert(wentLive >= 200 && wentLive < 300, `payload-titled session ${liveTitled.id} is live (the comment session ended)`);
  await viewer.waitForFunction((t) => document.querySelector('#session-title').textContent === t, liveTitled.title_ar);
  h.assert(await viewer.evaluate(() => document.title.startsWith(document.querySelector('#session-title').textContent)), 'viewer shows the session title literally (heading and document title)');
  await studio.waitForFunction((t) => document.querySelector('#session-title').textContent === t, liveTitled.title_ar);
  h.check('studio shows the session title literally');
  assertNoHits('session titles on viewer and studio');

  // --- archive: session list (both languages), one record, every comment ---
  const archive = await detectorPage('archive');
  await archive.goto(`${base}/archive`);
  await archive.waitForSelector('#login-form', { state: 'visible' });
  await archive.fill('#login-name', 'producer');
  await archive.fill('#login-password', password);
  await archive.click('#login-submit');
  await archive.waitForFunction((n) => document.querySelectorAll('#sessions-body tr[data-id]').length >= n, sessions.length);
  const rowTitles = async () => archive.$$eval('#sessions-body tr[data-id]', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.id, r.querySelector('.session-name').textContent])));
  let shownTitles = await rowTitles();
  let wrong = sessions.filter((s) => shownTitles[s.id] !== s.title_ar);
  h.assert(wrong.length === 0, `archive lists ${sessions.length} payload titles (Arabic) literally${wrong.length ? ` — e.g. ${JSON.stringify(shownTitles[wrong[0].id])}` : ''}`);
  await archive.click('#lang-toggle');
  await archive.waitForFunction((s) => document.querySelector(`#sessions-body tr[data-id="${s.id}"] .session-name`)?.textContent === s.title_en, sessions[0]);
  shownTitles = await rowTitles();
  wrong = sessions.filter((s) => shownTitles[s.id] !== s.title_en);
  h.assert(wrong.length === 0, `archive lists ${sessions.length} payload titles (English) literally`);
  await archive.click('#lang-toggle');

  await archive.click(`#sessions-body tr[data-id="${liveTitled.id}"] .session-pick`);
  await archive.waitForSelector(`#detail[data-id="${liveTitled.id}"][data-state="ready"]`);
  h.assert(await archive.textContent('#detail-title') === liveTitled.title_ar && await archive.textContent('#detail-subtitle') === liveTitled.title_en,
    'archive record shows both titles literally');
  await archive.click(`#sessions-body tr[data-id="${commentSessionId}"] .session-pick`);
  await archive.waitForSelector(`#detail[data-id="${commentSessionId}"][data-state="ready"]`);
  await archive.click('#search-submit');
  await archive.waitForFunction(() => document.querySelectorAll('#results [data-id]').length > 0);
  for (let guard = 0; guard < 10 && await archive.isVisible('#results-more'); guard++) {
    const before = await archive.$$eval('#results [data-id]', (n) => n.length);
    await archive.click('#results-more');
    await archive.waitForFunction((b) => document.querySelectorAll('#results [data-id]').length > b || document.querySelector('#results-more').hidden, before);
  }
  checkItems('archive search results', await items(archive, '#results'), comments);
  const top = await items(archive, '#top');
  checkItems('archive top comments', top, comments.filter((c) => top.some((t) => t.id === c.id)));
  await assertNoMarkup('archive', archive);
  assertNoHits('archive rendered');

  // --- decision report of the comment session and of a payload-titled one ---
  // Same context as the archive: the login cookie and the detector carry over.
  const report = await archive.context().newPage();
  h.watchPage(report, 'report');
  await report.goto(`${base}/report?id=${commentSessionId}`);
  await report.waitForSelector('#report[data-state="ready"]');
  const rows = (sel) => report.$$eval(sel, (list) => list.map((r) => ({
    id: Number(r.dataset.id),
    name: (r.querySelector('.author-cell bdi') || {}).textContent ?? null,
    text: (r.querySelector('.comment-text') || {}).textContent ?? null,
  })));
  const reportTop = await rows('#top tr[data-id]');
  const reportAired = await rows('#aired tr[data-id]');
  h.assert(reportTop.length > 0 && reportAired.length > 0, `report lists ${reportTop.length} top and ${reportAired.length} aired comments`);
  checkItems('report top comments', reportTop, comments.filter((c) => reportTop.some((t) => t.id === c.id)));
  checkItems('report aired comments', reportAired, comments.filter((c) => reportAired.some((t) => t.id === c.id)));
  await report.goto(`${base}/report?id=${liveTitled.id}`);
  await report.waitForSelector('#report[data-state="ready"]');
  const facts = await report.$$eval('dd bdi', (n) => n.map((x) => x.textContent));
  h.assert(await report.textContent('#report-title') === liveTitled.title_ar && facts.includes(liveTitled.title_ar) && facts.includes(liveTitled.title_en),
    'report shows both payload titles literally');
  await assertNoMarkup('report', report);
  assertNoHits('report rendered');

  // A hostile name that also imitates the hall itself: the server refuses it
  // (code "impersonation") and the viewer page says so in plain text.
  await viewer.fill('#display-name', '<b onmouseover=__xss(0)>Sabla</b>');
  await viewer.dispatchEvent('#display-name', 'change');
  await viewer.waitForSelector('#notice[data-code="impersonation"]:not([hidden])');
  const notice = await viewer.evaluate(() => ({
    text: document.querySelector('#notice').textContent,
    saved: localStorage.getItem('sabla.viewer.name'),
  }));
  h.assert(notice.text.length > 0 && !notice.text.includes('<') && notice.saved === null,
    `viewer page shows the impersonation notice ("${notice.text}") and forgets the refused name`);

  // Let late handlers (media errors, animations, toggles) have their turn.
  await viewer.waitForTimeout(500);
  assertNoHits('all pages, after a pause');
  await h.assertCleanPages({ studio, viewer, overlay, archive, report });

  // --- positive control ---
  const scratch = await detectorPage('control', { watch: false });
  await scratch.goto(`${base}/`);
  const live = corpus.filter((p) => p.context !== 'none');
  await scratch.evaluate(runCarelessly, live.map((p) => ({ text: p.text, context: p.context })));
  await scratch.waitForTimeout(700);
  const fired = new Set(hits.filter((x) => x.label === 'control').map((x) => Number(String(x.value).split(',')[0])));
  const silent = live.filter((p) => !fired.has(p.id));
  h.assert(silent.length === 0, `positive control: all ${live.length} payloads with a browser context fire the detector when a page renders them carelessly${silent.length ? ` — silent: ${silent.map((p) => `${p.id} (${p.note})`).join(', ')}` : ''}`);
  h.log(`${corpus.length} payloads, ${corpus.length - live.length} legacy vectors without a browser context; placements: ${comments.length} comments, ${comments.length} names, ${edits.length} edits, ${aired} aired, ${ltShown} lower-third/ticker fields, ${sessions.length * 2} session titles`);
}

// Runs in the scratch page: each payload the way a careless page would.
async function runCarelessly(list) {
  const frames = [];
  for (const { text, context } of list) {
    const box = document.createElement('div');
    document.body.append(box);
    const html = (s) => box.append(document.createRange().createContextualFragment(s));
    const click = () => { const a = box.querySelector('#xss-link'); if (a) a.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true })); };
    const touch = () => { const i = box.querySelector('input'); if (i) { i.dispatchEvent(new MouseEvent('mouseover', { bubbles: true })); i.focus(); } };
    const decode = (s) => { const t = document.createElement('textarea'); t.innerHTML = s; return t.value; };
    const markdown = (s) => s.replace(/(!?)\[([^\]]*)\]\((.*)\)/g, (m, img, label, url) => (img
      ? `<img src="${url}" alt="${label}">` : `<a id="xss-link" href="${url}">${label}</a>`));
    try {
      switch (context) {
        // autofocus works once per document: focus stands in for the user.
        case 'html': case 'html-script': html(text); box.querySelector('[autofocus]')?.focus(); break;
        case 'html-click': html(text); click(); break;
        case 'html-style': html(`<style>${text}</style>`); break;
        case 'html-decoded': html(decode(text)); break;
        case 'html-unclosed': html(`${text} <b>more</b>`); break;
        case 'attr-dq': html(`<input value="${text}">`); touch(); break;
        case 'attr-sq': html(`<input value='${text}'>`); touch(); break;
        case 'attr-uq': html(`<input value=${text}>`); touch(); break;
        case 'document': { const f = document.createElement('iframe'); f.srcdoc = text; box.append(f); frames.push(new Promise((r) => { f.onload = r; setTimeout(r, 500); })); break; }
        case 'roundtrip': { const t = document.createElement('template'); t.innerHTML = text; html(t.innerHTML); break; }
        case 'url': { const a = document.createElement('a'); a.id = 'xss-link'; a.href = text; a.textContent = 'x'; box.append(a); click(); break; }
        case 'markdown': case 'markdown-image': html(markdown(text)); click(); break;
        case 'template': text.replace(/\{\{([\s\S]+?)\}\}/g, (m, expr) => { Function('scope', `with (scope) { return (${expr}); }`)({}); return ''; }); break;
        case 'template-literal': Function(`return \`${text}\`;`)(); break;
        default: break;
      }
    } catch { /* a payload may throw after it ran */ }
  }
  await Promise.all(frames);
}

h.run(main, 'no payload ran on the viewer, studio, overlay, archive or report page; all shown as text');
