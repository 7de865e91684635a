// A WebSocket that reconnects by itself: capped exponential backoff with
// jitter. JSON in, JSON out; `batch` frames are unpacked into single messages.

export function wsUrl(path = '/ws') {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${window.location.host}${path}`;
}

export class ReconnectingSocket {
  // options:
  //   url, protocol
  //   onOpen()                 connection open (before any message)
  //   onMessage(msg)           one parsed message (batches are unpacked)
  //   onState(state, info)     'connecting' | 'open' | 'waiting' {retryAt} | 'stopped'
  //   beforeReconnect(event)   may return (a promise of) false to stop reconnecting
  constructor(options) {
    this.opts = { minDelayMs: 500, maxDelayMs: 15000, connectTimeoutMs: 10000, ...options };
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.connectTimer = null;
    this.state = 'stopped';
    this._onOnline = () => { if (this.state === 'waiting') this._connectNow(); };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this._onOnline);
    this._connectNow();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._onOnline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this._setState('stopped');
  }

  get isOpen() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }

  send(obj) {
    if (!this.isOpen) return false;
    try { this.ws.send(JSON.stringify(obj)); return true; } catch { return false; }
  }

  _setState(state, info = {}) {
    this.state = state;
    if (this.opts.onState) this.opts.onState(state, info);
  }

  _connectNow() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    this._setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.opts.url, this.opts.protocol);
    } catch (err) {
      this._scheduleRetry(null);
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) { try { ws.close(); } catch { /* ignore */ } }
    }, this.opts.connectTimeoutMs);
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      this._setState('open');
      if (this.opts.onOpen) this.opts.onOpen();
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      this.attempt = 0; // the server talks to us: the connection is healthy
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this._dispatch(msg);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      this.ws = null;
      this._scheduleRetry(ev);
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  _dispatch(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'batch' && Array.isArray(msg.items)) {
      for (const item of msg.items) this._dispatch(item);
      return;
    }
    try {
      this.opts.onMessage(msg);
    } catch (err) {
      // One bad message must not stop the others; report it for debugging.
      setTimeout(() => { throw err; });
    }
  }

  async _scheduleRetry(ev) {
    if (this.stopped) return;
    if (this.opts.beforeReconnect) {
      let go = true;
      try { go = await this.opts.beforeReconnect(ev); } catch { go = true; }
      if (go === false) { this.stop(); return; }
      if (this.stopped) return;
    }
    const cap = Math.min(this.opts.maxDelayMs, this.opts.minDelayMs * 2 ** this.attempt);
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2)); // "equal jitter"
    this.attempt = Math.min(this.attempt + 1, 16);
    this._setState('waiting', { retryAt: Date.now() + delay });
    this.retryTimer = setTimeout(() => this._connectNow(), delay);
  }
}
