// The peer Sabla's benchmarks are measured against: what a team would build
// instead with the usual Node.js parts — `ws` for WebSockets and
// `better-sqlite3` for SQLite (WAL, synchronous=NORMAL as Sabla's default,
// one transaction per batch of writes gathered in one turn of the event
// loop). It speaks the subset of Sabla's protocol (docs/protocol.md) that
// sabla-load uses, with the same frames, so every scenario runs unchanged:
//
//   viewer  (sabla.viewer.v1): welcome on connect; comment -> ack after
//           COMMIT (pending, review on); vote -> votes pushed to everyone;
//   studio  (sabla.studio.v1, `Authorization: Bearer TOKEN`): snapshot on
//           connect; approve -> ok, then the comment is sent to every viewer;
//           new comments are pushed as `pending`.
//
//   node server.mjs --port 0 --bind 127.0.0.1 --data DIR --token TOKEN
// prints `listening on http://127.0.0.1:PORT` once it accepts connections.
// Comments go to DIR/sabla.db (table `comments`, as sabla-load --db expects).
import http from 'node:http';
import crypto from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { WebSocketServer, WebSocket } from 'ws';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    bind: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string' },
    token: { type: 'string', default: process.env.PEER_TOKEN ?? '' },
  },
});
if (!args.data) {
  console.error('usage: node server.mjs --data DIR [--port 0] [--bind 127.0.0.1] [--token TOKEN]');
  process.exit(2);
}

const MAX_LENGTH = 500;
const MAX_FRAME = 64 * 1024;
const FEED_SIZE = 20;

// ---- store ----
const db = new Database(path.join(args.data, 'sabla.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
  CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL,
    viewer_id INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    dir TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    votes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    UNIQUE (viewer_id, client_id));
  CREATE TABLE IF NOT EXISTS votes (
    comment_id INTEGER NOT NULL, viewer_id INTEGER NOT NULL, PRIMARY KEY (comment_id, viewer_id));
  CREATE TABLE IF NOT EXISTS moderation_events (
    id INTEGER PRIMARY KEY, comment_id INTEGER NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL);
`);
const insertComment = db.prepare(
  `INSERT INTO comments (session_id, viewer_id, client_id, name, text, dir, received_at, status)
   VALUES (1, ?, ?, '', ?, ?, ?, 'pending')`);
const setStatus = db.prepare('UPDATE comments SET status = ? WHERE id = ?');
const addEvent = db.prepare('INSERT INTO moderation_events (comment_id, action, actor, at) VALUES (?, ?, ?, ?)');
const addVote = db.prepare('INSERT INTO votes (comment_id, viewer_id) VALUES (?, ?)');
const countVote = db.prepare('UPDATE comments SET votes = votes + 1 WHERE id = ? RETURNING votes');

// Writes gathered during one turn of the event loop, committed together.
let queue = [];
let flushScheduled = false;
const commitBatch = db.transaction((ops) => {
  for (const op of ops) op.run();
});
function enqueue(run, done) {
  queue.push({ run, done });
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
function flush() {
  flushScheduled = false;
  const ops = queue;
  queue = [];
  try {
    commitBatch(ops);
  } catch (e) {
    for (const op of ops) op.done(e);
    return;
  }
  for (const op of ops) op.done(null);
}

// ---- state ----
const session = { id: 1, title_ar: 'جلسة', title_en: 'Session', status: 'live', live_at: Date.now(), ended_at: null };
const comments = new Map(); // id -> comment (as viewers see it)
const byClientId = new Map(); // `${viewer}:${client_id}` -> id, or a list of waiting sockets while in flight
const voters = new Map(); // comment id -> Set of viewer ids
const feed = []; // latest approved comments
const viewers = new Set();
const studios = new Set();
let nextViewer = 1;

const send = (ws, obj) => {
  if (ws.readyState === WebSocket.OPEN) ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
};
const broadcast = (set, obj) => {
  const frame = JSON.stringify(obj);
  for (const ws of set) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
};
const error = (ws, code, message, extra = {}) => send(ws, { type: 'error', code, message, ...extra });

// A sanitizer a team would write: NFC, no control characters, trimmed.
const sanitize = (text) => text.normalize('NFC').replace(/[\u0000-\u0008\u000b-\u001f\u007f\u200e\u200f\u202a-\u202e]/g, '').trim();
const direction = (text) => (/[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]/.test(text) ? 'rtl' : 'ltr');

function onViewerMessage(ws, msg) {
  if (msg.type === 'hello') return send(ws, welcome(ws));
  if (msg.type === 'comment') {
    const clientId = msg.client_id;
    if (typeof clientId !== 'string' || clientId.length < 1 || clientId.length > 64 || typeof msg.text !== 'string')
      return error(ws, 'invalid', 'comment needs client_id and text', { client_id: clientId });
    const key = `${ws.viewer}:${clientId}`;
    const known = byClientId.get(key);
    if (typeof known === 'number') return send(ws, { type: 'ack', client_id: clientId, id: known, status: comments.get(known)?.status ?? 'pending' });
    if (known) return known.push(ws); // in flight: answered with the first
    const text = sanitize(msg.text);
    if (!text) return error(ws, 'empty', 'the comment is empty', { client_id: clientId });
    if ([...text].length > MAX_LENGTH) return error(ws, 'too_long', `at most ${MAX_LENGTH} characters`, { client_id: clientId });
    const waiting = [ws];
    byClientId.set(key, waiting);
    const at = Date.now();
    const c = { id: 0, session: 1, name: '', text, dir: direction(text), lang: '', source: 'web', at, offset: null, votes: 0, status: 'pending' };
    enqueue(
      () => {
        c.id = Number(insertComment.run(ws.viewer, clientId, text, c.dir, at).lastInsertRowid);
      },
      (err) => {
        if (err) {
          byClientId.delete(key);
          for (const w of waiting) error(w, 'internal', 'could not store the comment', { client_id: clientId });
          return;
        }
        comments.set(c.id, c);
        byClientId.set(key, c.id);
        for (const w of waiting) send(w, { type: 'ack', client_id: clientId, id: c.id, status: 'pending' });
        broadcast(studios, { type: 'pending', comment: { ...c, viewer: ws.viewer } });
      });
    return;
  }
  if (msg.type === 'vote') {
    const c = comments.get(msg.id);
    if (!c || c.status !== 'approved') return error(ws, 'not_found', 'no such comment');
    let set = voters.get(c.id);
    if (!set) voters.set(c.id, (set = new Set()));
    if (set.has(ws.viewer)) return error(ws, 'conflict', 'you already voted for this comment');
    set.add(ws.viewer);
    let votes = c.votes;
    enqueue(
      () => {
        addVote.run(c.id, ws.viewer);
        votes = countVote.get(c.id).votes;
      },
      (err) => {
        if (err) return set.delete(ws.viewer);
        c.votes = votes;
        const update = { type: 'votes', id: c.id, votes };
        broadcast(viewers, update);
        broadcast(studios, update);
      });
    return;
  }
  error(ws, 'invalid', 'unknown type');
}

function onStudioMessage(ws, msg) {
  const op = msg.op;
  if (msg.type === 'approve' || msg.type === 'reject') {
    const c = comments.get(msg.id);
    if (!c) return error(ws, 'not_found', 'no such comment', { op });
    if (c.status !== 'pending') return error(ws, 'conflict', 'already decided', { op });
    const status = msg.type === 'approve' ? 'approved' : 'rejected';
    c.status = status; // a second moderator now gets conflict
    enqueue(
      () => {
        setStatus.run(status, c.id);
        addEvent.run(c.id, msg.type, ws.actor, Date.now());
      },
      (err) => {
        if (err) {
          c.status = 'pending';
          return error(ws, 'internal', 'could not store the decision', { op });
        }
        send(ws, { type: 'ok', op, action: msg.type, id: c.id });
        if (status === 'approved') {
          feed.push(c);
          if (feed.length > FEED_SIZE) feed.shift();
          broadcast(viewers, { type: 'comment', comment: c });
        }
        broadcast(studios, { type: 'updated', action: msg.type, by: ws.actor, comment: c });
      });
    return;
  }
  error(ws, 'invalid', 'unknown type', { op });
}

const welcome = (ws) => ({
  type: 'welcome', viewer: ws.viewer, token: ws.token, name: '', session, feed,
  overlay: null, settings: { max_length: MAX_LENGTH, slow_mode_seconds: 0 },
});

// ---- network ----
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":{"code":"not_found","message":"WebSockets live at /ws"}}\n');
});
const wss = new WebSocketServer({
  server: httpServer,
  path: '/ws',
  maxPayload: MAX_FRAME,
  handleProtocols: (protocols) => {
    for (const p of ['sabla.viewer.v1', 'sabla.studio.v1']) if (protocols.has(p)) return p;
    return false;
  },
  verifyClient: ({ req }, done) => {
    const wanted = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!wanted.includes('sabla.studio.v1') || wanted.includes('sabla.viewer.v1')) return done(true);
    const auth = req.headers.authorization ?? '';
    const ok = args.token !== '' && auth === `Bearer ${args.token}`;
    done(ok, ok ? undefined : 401, ok ? undefined : 'log in first');
  },
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  const studio = ws.protocol === 'sabla.studio.v1';
  if (studio) {
    ws.actor = 'token:bench';
    studios.add(ws);
    const pending = [...comments.values()].filter((c) => c.status === 'pending');
    send(ws, { type: 'snapshot', me: { name: ws.actor, role: 'producer' }, session, pending, approved: feed,
               settings: { hold_for_review: true }, counters: { pending: pending.length, viewers: viewers.size } });
  } else {
    ws.viewer = nextViewer++;
    ws.token = crypto.randomBytes(16).toString('hex');
    viewers.add(ws);
    send(ws, welcome(ws));
  }
  ws.on('close', () => (studio ? studios : viewers).delete(ws));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.close(1003, 'text frames only');
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return error(ws, 'invalid', 'malformed JSON');
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return error(ws, 'invalid', 'missing type');
    if (studio) onStudioMessage(ws, msg);
    else onViewerMessage(ws, msg);
  });
});

httpServer.listen(Number(args.port), args.bind, () => {
  console.log(`listening on http://${args.bind}:${httpServer.address().port}`);
});
const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  httpServer.close();
  db.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
