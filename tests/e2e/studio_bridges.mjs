#!/usr/bin/env node
// Browser test of the studio's Bridges panel (issue 14) against a real
// server with two bridges: a webhook ("sms") and an X bridge whose API root
// is a closed loopback port (it can only fail). A signed webhook post lands
// in the queue with its source; the panel shows each bridge's state, its
// counts and the X bridge's last error, as text; the archive counts the
// session's comments by source.
//
//   node tests/e2e/studio_bridges.mjs path/to/sabla
//
// Exit code 0 = pass; stops by itself (hard timeout 90 s) and cleans up.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Harness, loginStudio } from './harness.mjs';

const binary = process.argv[2];
const h = new Harness({ tag: 'studio-bridges', hardTimeoutMs: 90_000 });
const SECRET = 'e2e-webhook-secret-0123456789';
const TEXT = 'سؤال من الرسائل القصيرة عن المواصلات 🚌';

async function main() {
  const dir = h.tempDir('sabla-bridges-e2e-');
  const config = path.join(dir, 'sabla.toml');
  fs.writeFileSync(config, `[[bridges]]
kind = "webhook"
name = "sms"
secret = "${SECRET}"

[[bridges]]
kind = "x"
query = "#sabla"
token = "e2e-bearer-token"
api_base = "http://127.0.0.1:9/2"
poll_interval_ms = 200
backoff_ms = 100
backoff_max_ms = 500
`);
  const { base, password } = await h.startServer(binary, { args: ['--config', config] });
  const body = JSON.stringify({ author: 'مرسل', text: TEXT, external_id: 'sms-e2e-1' });
  const signature = `sha256=${crypto.createHmac('sha256', SECRET).update(body).digest('hex')}`;
  const post = await fetch(`${base}/api/v1/bridges/sms`, {
    method: 'POST', body, headers: { 'Content-Type': 'application/json', 'X-Sabla-Signature': signature },
  });
  h.assert(post.status === 202, `signed webhook post -> 202 (got ${post.status})`);
  const bad = await fetch(`${base}/api/v1/bridges/sms`, { method: 'POST', body, headers: { 'X-Sabla-Signature': 'sha256=00' } });
  h.assert(bad.status === 401, 'a bad signature -> 401');

  await h.launch();
  const studio = await h.newPage('studio');
  await loginStudio(h, studio, base, password);
  await studio.waitForSelector('#bridges:not([hidden]) li[data-bridge="sms"]');
  const sms = studio.locator('#bridges li[data-bridge="sms"]');
  h.assert(await sms.getAttribute('data-in') === '1' && await sms.getAttribute('data-refused') === '1' &&
    await sms.getAttribute('data-state') === 'listening', `the sms bridge shows its state and counts (${(await sms.textContent()).trim()})`);
  await studio.waitForSelector('#bridges li[data-bridge="x"][data-state="backoff"] .bridge-error');
  const x = await studio.textContent('#bridges li[data-bridge="x"]');
  h.assert(/network/.test(x), `the X bridge shows its last error (${x.trim()})`);
  h.assert(!x.includes('e2e-bearer-token'), 'no credential in the panel');
  await studio.waitForFunction((text) => document.body.innerText.includes(text), TEXT);
  h.check('the webhook comment is in the queue');

  // The archive counts the session's comments by source.
  const sessionId = await studio.evaluate(async () => {
    const body = await (await fetch('/api/v1/sessions', { credentials: 'same-origin' })).json();
    return (body.sessions || []).find((s) => s.current).id;
  });
  const archive = await h.newPage('archive');
  await archive.goto(`${base}/archive`);
  await archive.fill('#login-name', 'producer');
  await archive.fill('#login-password', password);
  await archive.click('#login-submit');
  await archive.click(`#sessions-body tr[data-id="${sessionId}"] .session-pick`);
  await archive.waitForSelector(`#detail[data-id="${sessionId}"][data-state="ready"] .sources-fact`);
  const sources = await archive.textContent('.sources-fact');
  h.assert(sources.includes('sms 1'), `the archive counts comments by source (${sources})`);
  await h.assertCleanPages({ studio, archive });
}

h.run(main, 'the studio shows each bridge and the webhook comment reaches the queue');
