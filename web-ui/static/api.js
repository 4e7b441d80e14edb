// api.js: the station's JSON API (web-ui/API.md) and its live event stream.
//
// Every call goes through request(): it adds the CSRF token to POSTs, turns
// a JSON error body into an ApiError with the server's code and sentence,
// and tells the page when the session is gone (401) so it can show the
// login form instead of failing view by view.

const API = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let csrfToken = '';
let onUnauthenticated = () => {};

export function setCsrf(token) { csrfToken = token || ''; }
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

async function errorFrom(res) {
  let code = 'http-' + res.status;
  let message = `The station answered ${res.status} ${res.statusText}.`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) {
    // not JSON (a proxy, or the HTTP layer's own 4xx): keep the status line
  }
  const ra = res.headers.get('Retry-After');
  return new ApiError(res.status, code, message, ra ? Number(ra) : undefined);
}

// request(method, path, body?, {raw, quiet401}): parsed JSON, or the Response when raw.
export async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'The station is not reachable (network error). Is certstation running?');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && err.code === 'unauthenticated' && !opts.quiet401) onUnauthenticated(err);
    throw err;
  }
  if (opts.raw) return res;
  return res.json();
}

export const api = {
  login: (user, password) => request('POST', '/login', { user, password }, { quiet401: true }),
  session: () => request('GET', '/session', undefined, { quiet401: true }),
  logout: () => request('POST', '/logout'),
  status: () => request('GET', '/status'),
  fixtures: () => request('GET', '/fixtures'),
  throughput: () => request('GET', '/throughput'),
  issuances: (params) => request('GET', '/issuances?' + new URLSearchParams(params).toString()),
  issuance: (id) => request('GET', '/issuances/' + encodeURIComponent(id)),
  pemUrl: (id) => API + '/issuances/' + encodeURIComponent(id) + '/pem',
  pauseSlot: (name, paused) =>
    request('POST', '/fixtures/' + encodeURIComponent(name) + (paused ? '/pause' : '/resume')),
  pauseLine: (paused) => request('POST', '/line/' + (paused ? 'pause' : 'resume')),
  newShift: () => request('POST', '/shift'),
  exportLedger: (body) => request('POST', '/export', body, { raw: true }),
};

// The live stream. EventSource reconnects by itself after a network drop;
// when the server refuses the stream (401, 503) the browser gives up, so we
// reconnect ourselves with a growing delay, after checking the session.
export class LiveStream {
  constructor(handlers, onState) {
    this.handlers = handlers;  // { hello(data), stats(data), slot(data), ... }
    this.onState = onState;    // 'live' | 'connecting' | 'down'
    this.es = null;
    this.retryMs = 1000;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    this.es = null;
  }

  open() {
    if (this.es) this.es.close();
    this.onState('connecting');
    const es = new EventSource(API + '/events');
    this.es = es;
    for (const [name, fn] of Object.entries(this.handlers)) {
      es.addEventListener(name, (ev) => {
        let data = {};
        try {
          data = JSON.parse(ev.data || '{}');
        } catch (e) {
          console.warn('event', name, 'with bad JSON', e);
          return;
        }
        if (name === 'hello') {
          this.retryMs = 1000;
          this.onState('live');
        }
        fn(data);
      });
    }
    es.onerror = () => {
      if (this.stopped || es !== this.es) return;
      if (es.readyState === EventSource.CONNECTING) {
        this.onState('connecting'); // the browser retries on its own
        return;
      }
      // CLOSED: refused or ended for good; find out why, then try again
      this.onState('down');
      es.close();
      this.es = null;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.retry(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15000);
    };
  }

  async retry() {
    if (this.stopped) return;
    try {
      await request('GET', '/session'); // a 401 here sends the page to the login form
    } catch (e) {
      if (e.status === 401) return;
    }
    if (!this.stopped) this.open();
  }
}
