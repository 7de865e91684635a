#!/usr/bin/env node
// The page's program-time queue (static/assets/sync.js) on a fake player
// clock: items wait for the playhead to reach their pt, never overtake each
// other, and show at once when the player is not playing or sync is off.
// Runs in well under a second:  node tests/e2e/sync_logic.mjs
import assert from 'node:assert/strict';
import { ProgramSync, PlayheadClock, SYNC_MARGIN_MS, MAX_HOLD_MS } from '../../static/assets/sync.js';

class FakeClock {
  constructor() { this.now = 10_000; this.isPlaying = true; this.known = true; }
  pt() { return this.known ? this.now : null; }
  playing() { return this.isPlaying; }
}
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
let checks = 0;
const ok = (cond, msg) => { assert.ok(cond, msg); checks++; console.log(`[sync] ok: ${msg}`); };

{
  const clock = new FakeClock();
  const shown = [];
  const sync = new ProgramSync({ clock });
  const show = (m) => shown.push(m.id);
  sync.push({ id: 1, pt: 10_500 }, show);
  sync.push({ id: 2 }, show); // no pt: still waits behind item 1 (order)
  sync.push({ id: 3, pt: 10_200 }, show); // earlier pt than 1, pushed later: waits behind 1
  ok(shown.length === 0, 'an item ahead of the playhead waits, and nothing overtakes it');
  clock.now = 10_500 + SYNC_MARGIN_MS - 1;
  sync.pump();
  ok(shown.length === 0, 'not shown before the playhead passes pt + margin');
  clock.now = 10_500 + SYNC_MARGIN_MS;
  sync.pump();
  ok(shown.join() === '1,2,3', `shown in push order once the playhead reached pt (${shown.join()})`);

  // The pump timer releases items by itself while the playhead moves.
  sync.push({ id: 4, pt: clock.now + 150 }, show);
  const t0 = Date.now();
  const moving = setInterval(() => { clock.now += 10; }, 10);
  while (!shown.includes(4) && Date.now() - t0 < 2000) await wait(5);
  clearInterval(moving);
  ok(shown.includes(4), `the timer released the item after ${Date.now() - t0} ms of playhead movement`);

  // Paused: everything held shows at once, and new items do not wait.
  sync.push({ id: 5, pt: clock.now + 5000 }, show);
  ok(!shown.includes(5), 'held while playing');
  clock.isPlaying = false;
  sync.pump();
  ok(shown.includes(5), 'released when the player pauses');
  sync.push({ id: 6, pt: clock.now + 5000 }, show);
  ok(shown.includes(6), 'shown at once while paused');
  clock.isPlaying = true;

  // Sync off: at once.
  sync.push({ id: 7, pt: clock.now + 5000 }, show);
  sync.setEnabled(false);
  ok(shown.includes(7), 'turning sync off releases what is held');
  sync.push({ id: 8, pt: clock.now + 5000 }, show);
  ok(shown.includes(8), 'shown at once with sync off');
  sync.setEnabled(true);

  // A pt far ahead of the playhead means the mapping is wrong: shown at once.
  sync.push({ id: 9, pt: clock.now + MAX_HOLD_MS + 1000 }, show);
  ok(shown.includes(9), 'an item more than MAX_HOLD_MS ahead is not held');

  // Unknown playhead (no program date-time yet): at once.
  clock.known = false;
  sync.push({ id: 10, pt: clock.now + 1000 }, show);
  ok(shown.includes(10), 'shown at once when the playhead has no program time');
  ok(shown.join() === '1,2,3,4,5,6,7,8,9,10', 'overall order is the push order');
}

{
  // The playhead clock: hls.js playingDate minus the epoch; fragment fallback.
  const video = { paused: false, ended: false, readyState: 4, currentTime: 12.5 };
  const clock = new PlayheadClock(video);
  const handlers = {};
  const hls = { playingDate: new Date(1_764_400_012_345), on: (ev, fn) => { handlers[ev] = fn; } };
  clock.attachHls(hls, { Events: { FRAG_CHANGED: 'fc' } });
  ok(clock.pt() === null, 'no program time before the epoch is known');
  clock.setEpoch(1_764_400_000_000);
  ok(clock.pt() === 12_345, `pt = playingDate - epoch (${clock.pt()})`);
  hls.playingDate = null;
  handlers.fc('fc', { frag: { programDateTime: 1_764_400_010_000, start: 10 } });
  ok(clock.pt() === 12_500, `fallback from the fragment's date and start (${clock.pt()})`);
  ok(clock.playing(), 'playing when not paused with data');
  video.paused = true;
  ok(!clock.playing(), 'not playing when paused');
}
console.log(`${checks} passed, 0 failed`);
