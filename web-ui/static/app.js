// app.js: the operator's dashboard.
//
// DESIGN: the page renders from the event stream's `hello` (slots and
// throughput), then applies `slot`, `stats`, `device` and `shift` events as
// they come; `resync` (the stream fell behind) and a reconnect re-fetch the
// snapshots, so a dropped connection never leaves stale tiles. Everything
// the server sends is written with textContent, never as markup. Views are
// chosen by the URL's hash (#/overview, #/issuances, #/issuance/ID, #/ca) so
// the browser's back button and bookmarks work on a tablet too.

import { api, ApiError, LiveStream, setCsrf, setUnauthenticatedHandler } from './api.js';
import { ThroughputChart, renderFailures } from './charts.js';
import {
  el, setText, fmtInt, fmtRate, fmtYield, fmtMs, fmtTime, fmtDateTime, fmtDuration,
  localInputToIso, isoToLocalInput, reasonLabel,
} from './format.js';

const $ = (id) => document.getElementById(id);

const state = {
  session: null,        // {user, role, csrf}
  slots: new Map(),     // name -> SLOT (API object)
  tiles: new Map(),     // name -> tile element
  failures: [],         // [{reason, shift, total}]
  shift: null,          // {number, started, passed, failed, devices, yield}
  recent: [],           // newest first: {id, at, device_id, slot, result, reason, reason_text, duration_ms}
  status: null,         // GET /status
  clockSkewMs: 0,       // station clock - this PC's clock
  stream: null,
  chart: null,
  view: null,
  issuancesNext: null,  // next_before for "Older…"
  timers: [],
};

const RECENT_MAX = 12;

// ---------------------------------------------------------------- messages

function toast(message, kind = 'info') {
  const t = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  close.addEventListener('click', () => t.remove());
  t.append(close);
  $('toasts').append(t);
  // a burst of messages must not cover the tiles: keep the newest few
  while ($('toasts').children.length > 4) $('toasts').firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 12000 : 6000);
}

function roleCannot(what) {
  const role = state.session ? state.session.role : 'this';
  toast(`Your role (${role}) cannot do this: ${what}.`, 'error');
}

// one place that turns a failed call into what the person sees
function reportError(e, what) {
  if (!(e instanceof ApiError)) {
    console.error(e);
    toast(`${what} failed: ${e.message || e}`, 'error');
    return;
  }
  if (e.status === 401 && e.code === 'unauthenticated') return; // the login form says it
  if (e.status === 403 && e.code === 'forbidden-role') {
    roleCannot(what.toLowerCase());
    return;
  }
  toast(`${what} failed: ${e.message}`, 'error');
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  if (state.stream) state.stream.stop();
  state.stream = null;
  state.session = null;
  setCsrf('');
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  $('app').hidden = true;
  $('login-view').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('login-password').value = '';
  $('login-user').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const btn = $('login-submit');
  btn.disabled = true;
  const err = $('login-error');
  err.hidden = true;
  try {
    const s = await api.login(user, password);
    enterApp(s);
  } catch (e) {
    let msg = e.message;
    if (e.code === 'login-failed') msg = 'Wrong user name or password.';
    else if (e.code === 'too-many-attempts')
      msg = `Too many failed attempts: wait ${e.retryAfter || 60} s, then try again.`;
    err.textContent = msg;
    err.hidden = false;
    $('login-password').select();
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- roles

const ROLE_RANK = { operator: 1, supervisor: 2 };

function allowed(needed) {
  const have = state.session ? ROLE_RANK[state.session.role] || 0 : 0;
  return have >= (ROLE_RANK[needed] || 99);
}

function applyRole() {
  for (const e of document.querySelectorAll('[data-role]')) e.hidden = !allowed(e.dataset.role);
  document.body.dataset.role = state.session ? state.session.role : '';
}

// ---------------------------------------------------------------- app shell

function enterApp(s) {
  state.session = { user: s.user, role: s.role, csrf: s.csrf };
  setCsrf(s.csrf);
  $('login-view').hidden = true;
  $('app').hidden = false;
  setText('user-name', s.user);
  setText('user-role', s.role);
  applyRole();
  if (!state.chart) state.chart = new ThroughputChart($('throughput-chart'));
  if (!$('export-from').value && state.shift) $('export-from').value = isoToLocalInput(new Date(state.shift.started));

  state.stream = new LiveStream({
    hello: onHello, stats: onStats, slot: onSlot, device: onDevice,
    shift: onShift, resync: onResync, expired: () => showLogin('Your session ended. Log in again.'),
  }, setLive);
  state.stream.start();
  state.timers.push(setInterval(tick, 1000));
  // failures by reason are not in the 1 s `stats` event: refresh them now and then
  state.timers.push(setInterval(() => { if (state.view === 'overview') refreshThroughput(); }, 15000));
  refreshStatus();
  route();
}

function setLive(s) {
  const p = $('pill-live');
  p.dataset.state = s;
  p.textContent = s === 'live' ? 'live' : s === 'connecting' ? 'connecting…' : 'offline: reconnecting';
}

function setIssuing(issuing, hsmState, reason) {
  const p = $('pill-issuing');
  const ok = issuing && hsmState !== 'down';
  p.dataset.state = ok ? (hsmState === 'degraded' ? 'warn' : 'ok') : 'bad';
  p.textContent = ok ? (hsmState === 'degraded' ? 'issuing · HSM degraded' : 'issuing') : 'NOT ISSUING';
  const b = $('banner');
  if (ok) {
    b.hidden = true;
  } else {
    b.hidden = false;
    b.textContent = `The station is not issuing certificates: ${reason || 'the HSM is down'}. It resumes by itself when the cause is gone.`;
  }
}

// ---------------------------------------------------------------- live events

function onHello(h) {
  if (h.now) state.clockSkewMs = Date.parse(h.now) - Date.now();
  if (state.session && h.role && h.role !== state.session.role) {
    // the users file changed while this page was open
    state.session.role = h.role;
    setText('user-role', h.role);
    applyRole();
  }
  setSlots(h.slots || []);
  if (h.throughput) applyThroughput(h.throughput);
  loadRecent();
}

async function onResync() {
  try {
    const [f, t] = await Promise.all([api.fixtures(), api.throughput()]);
    setSlots(f.slots || []);
    applyThroughput(t);
    loadRecent();
  } catch (e) {
    reportError(e, 'Reloading the line');
  }
}

function onStats(s) {
  if (s.now) state.clockSkewMs = Date.parse(s.now) - Date.now();
  if (s.shift) {
    const newShift = state.shift && state.shift.number !== s.shift.number;
    state.shift = s.shift;
    renderKpis(s.devices_per_hour, s.devices_per_minute);
    if (newShift) refreshThroughput();
  }
  if (s.minute && state.chart) state.chart.updateMinute(s.minute);
  const hsm = s.hsm || {};
  const wasOk = $('pill-issuing').dataset.state !== 'bad';
  setIssuing(s.issuing !== false, hsm.state, state.status && state.status.hsm ? state.status.hsm.reason : '');
  if (wasOk !== (s.issuing !== false) || (s.issuing === false && !state.status)) refreshStatus();
}

function onSlot(slot) {
  state.slots.set(slot.name, slot);
  renderSlot(slot);
  renderSlotCounts();
}

function onDevice(d) {
  state.recent.unshift({
    id: d.ledger_id, at: d.at, device_id: d.device_id, slot: d.slot, result: d.result,
    reason: d.reason, reason_text: d.reason_text, duration_ms: d.duration_ms,
  });
  state.recent.length = Math.min(state.recent.length, RECENT_MAX);
  renderRecent();
  if (d.result === 'fail' && d.reason) {
    const f = state.failures.find((x) => x.reason === d.reason);
    if (f) {
      f.shift += 1;
      f.total += 1;
    } else {
      state.failures.push({ reason: d.reason, shift: 1, total: 1 });
    }
    state.failures.sort((a, b) => b.shift - a.shift);
    renderFailures($('failures'), $('failures-empty'), state.failures);
  }
}

function onShift(s) {
  toast(`Shift ${s.number} started${s.by ? ' by ' + s.by : ''}.`);
  refreshThroughput();
}

// ---------------------------------------------------------------- overview

function applyThroughput(t) {
  if (t.now) state.clockSkewMs = Date.parse(t.now) - Date.now();
  state.shift = t.shift;
  state.failures = (t.failures || []).map((f) => ({ ...f }));
  renderKpis(t.devices_per_hour, t.devices_per_minute);
  renderFailures($('failures'), $('failures-empty'), state.failures);
  if (state.chart) state.chart.setMinutes(t.minutes || []);
  if (!$('export-from').value && t.shift && t.shift.started)
    $('export-from').value = isoToLocalInput(new Date(t.shift.started));
}

async function refreshThroughput() {
  try {
    applyThroughput(await api.throughput());
  } catch (e) {
    reportError(e, 'Loading throughput');
  }
}

function renderKpis(perHour, perMinute) {
  const s = state.shift;
  if (!s) return;
  setText('kpi-devices', fmtInt(s.devices));
  setText('kpi-passed', fmtInt(s.passed));
  setText('kpi-failed', fmtInt(s.failed));
  setText('kpi-rate', fmtRate(perHour));
  setText('kpi-rate-min', fmtRate(perMinute));
  setText('kpi-yield', fmtYield(s.yield));
  const y = $('kpi-yield');
  y.dataset.level = s.yield === null || s.yield === undefined ? '' : s.yield >= 0.98 ? 'good' : s.yield >= 0.9 ? 'warn' : 'bad';
  setText('kpi-shift-no', String(s.number));
  setText('kpi-shift-start', fmtTime(s.started));
  setText('pill-shift', `shift ${s.number}`);
}

const STATE_LABEL = {
  idle: 'IDLE', exchange: 'EXCHANGE', pass: 'PASS', fail: 'FAIL', disconnected: 'DISCONNECTED', paused: 'PAUSED',
};
const STEP_LABEL = {
  none: '', csr: 'receiving CSR', issue: 'signing', chain: 'sending chain', readback: 'read-back', result: 'result',
};

function setSlots(slots) {
  state.slots = new Map(slots.map((s) => [s.name, s]));
  const box = $('slots');
  box.textContent = '';
  state.tiles.clear();
  for (const s of slots) renderSlot(s);
  $('slots-empty').hidden = slots.length > 0;
  renderSlotCounts();
  const sel = $('search-slot');
  const chosen = sel.value;
  sel.textContent = '';
  sel.append(el('option', { value: '', text: 'any' }));
  for (const s of slots) sel.append(el('option', { value: s.name, text: s.name }));
  sel.value = chosen;
}

function renderSlotCounts() {
  const counts = {};
  for (const s of state.slots.values()) counts[s.state] = (counts[s.state] || 0) + 1;
  const box = $('slot-counts');
  box.textContent = '';
  for (const k of ['exchange', 'pass', 'fail', 'idle', 'paused', 'disconnected']) {
    if (counts[k]) box.append(el('span', { class: `count-chip st-${k}`, text: `${counts[k]} ${k}` }));
  }
}

function tileFor(name) {
  let t = state.tiles.get(name);
  if (t) return t;
  t = el('article', { class: 'slot', dataset: { slot: name } },
    el('div', { class: 'slot-head' },
      el('span', { class: 'slot-name', text: name }),
      el('span', { class: 'slot-counts' },
        el('span', { class: 'ok', 'data-f': 'passed' }), ' ', el('span', { class: 'ko', 'data-f': 'failed' }))),
    el('div', { class: 'slot-state', 'data-f': 'state' }),
    el('div', { class: 'slot-step', 'data-f': 'step' }),
    el('div', { class: 'slot-device', 'data-f': 'device' }),
    el('div', { class: 'slot-reason', 'data-f': 'reason' }),
    el('div', { class: 'slot-foot' },
      el('span', { class: 'slot-since', 'data-f': 'since' }),
      el('button', { type: 'button', class: 'btn small slot-pause', 'data-f': 'pause', 'data-role': 'operator' })));
  t.querySelector('[data-f=pause]').addEventListener('click', () => togglePause(name));
  state.tiles.set(name, t);
  // keep the configured order (index) whatever order events arrive in
  const idx = (state.slots.get(name) || {}).index ?? 0;
  const after = [...$('slots').children].find((c) => ((state.slots.get(c.dataset.slot) || {}).index ?? 0) > idx);
  $('slots').insertBefore(t, after || null);
  return t;
}

function renderSlot(s) {
  const t = tileFor(s.name);
  const f = (k) => t.querySelector(`[data-f=${k}]`);
  t.dataset.state = s.state;
  t.dataset.step = s.step || 'none';
  f('state').textContent = STATE_LABEL[s.state] || s.state.toUpperCase();
  f('step').textContent = s.state === 'exchange' ? STEP_LABEL[s.step] || s.step : '';
  f('device').textContent = s.device_id || '';
  f('device').title = s.port ? `port ${s.port}` : '';
  let reason = '';
  if (s.state === 'fail' || (s.state === 'paused' && s.last_result === 'fail')) reason = reasonLabel(s.last_reason);
  else if (s.state === 'disconnected') reason = s.last_text || 'no port matches';
  f('reason').textContent = reason;
  f('reason').title = s.last_text || '';
  f('passed').textContent = `✔ ${fmtInt(s.passed)}`;
  f('failed').textContent = `✘ ${fmtInt(s.failed)}`;
  const b = f('pause');
  b.textContent = s.state === 'paused' ? 'Resume' : 'Pause';
  b.hidden = !allowed('operator');
  t.dataset.since = s.state_since || '';
  renderSince(t);
}

function renderSince(t) {
  const since = t.dataset.since ? Date.parse(t.dataset.since) : NaN;
  const e = t.querySelector('[data-f=since]');
  if (Number.isNaN(since)) {
    e.textContent = '';
    return;
  }
  const secs = (Date.now() + state.clockSkewMs - since) / 1000;
  e.textContent = `for ${fmtDuration(secs)}`;
}

function tick() {
  for (const t of state.tiles.values()) renderSince(t);
}

async function togglePause(name) {
  const s = state.slots.get(name);
  if (!s) return;
  const pausing = s.state !== 'paused';
  const b = state.tiles.get(name).querySelector('[data-f=pause]');
  b.disabled = true;
  try {
    const slot = await api.pauseSlot(name, pausing);
    onSlot(slot);
    toast(`Slot ${name} ${pausing ? 'paused' : 'resumed'}.`);
  } catch (e) {
    reportError(e, `${pausing ? 'Pausing' : 'Resuming'} slot ${name}`);
  } finally {
    b.disabled = false;
  }
}

async function pauseLine(paused) {
  try {
    const r = await api.pauseLine(paused);
    for (const s of r.slots || []) onSlot(s);
    toast(paused ? 'Every slot paused.' : 'Every slot resumed.');
  } catch (e) {
    reportError(e, paused ? 'Pausing the line' : 'Resuming the line');
  }
}

async function loadRecent() {
  try {
    const r = await api.issuances({ limit: RECENT_MAX });
    state.recent = (r.items || []).map((i) => ({
      id: i.id, at: i.updated || i.created, device_id: i.device_id, slot: i.slot,
      result: i.state === 'VERIFIED' ? 'pass' : i.state === 'FAILED' ? 'fail' : i.state.toLowerCase(),
      reason: i.reason, reason_text: i.reason_text, duration_ms: i.duration_ms,
    }));
    renderRecent();
  } catch (e) {
    reportError(e, 'Loading recent devices');
  }
}

function renderRecent() {
  const body = $('recent');
  body.textContent = '';
  for (const r of state.recent) {
    const tr = el('tr', { dataset: { result: r.result, id: r.id || '' } },
      el('td', { text: fmtTime(r.at) }),
      el('td', { class: 'mono', text: r.device_id }),
      el('td', { text: r.slot || '' }),
      el('td', {}, el('span', { class: `badge res-${r.result}`, text: r.result })),
      el('td', { title: r.reason_text || '', text: reasonLabel(r.reason) }),
      el('td', { class: 'num', text: fmtMs(r.duration_ms) }));
    if (r.id) {
      tr.classList.add('link');
      tr.addEventListener('click', () => { location.hash = `#/issuance/${r.id}`; });
    }
    body.append(tr);
  }
}

// ---------------------------------------------------------------- supervisor actions
//
// The buttons are hidden from roles that may not use them, but the server
// decides: a page whose user's role changed still gets a clear 403 message.

function filenameFrom(res, fallback) {
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/i.exec(cd);
  return m ? m[1] : fallback;
}

async function onExport(ev) {
  ev.preventDefault();
  const body = { format: $('export-format').value };
  const from = localInputToIso($('export-from').value);
  const to = localInputToIso($('export-to').value);
  if (from) body.from = from;
  if (to) body.to = to;
  if (from && to && from >= to) {
    toast('Export: "From" must be before "To".', 'error');
    return;
  }
  const btn = $('export-submit');
  btn.disabled = true;
  try {
    const res = await api.exportLedger(body);
    const blob = await res.blob();
    const name = filenameFrom(res, `certstation-ledger.${body.format}`);
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    toast(`Exported ${fmtInt(blob.size)} bytes: ${name}`);
  } catch (e) {
    reportError(e, 'Export');
  } finally {
    btn.disabled = false;
  }
}

// A second click within 5 s confirms: no modal dialog to find on a tablet.
let shiftArmed = null;
async function onNewShift() {
  const b = $('new-shift');
  if (!shiftArmed) {
    b.textContent = 'Click again to start a new shift';
    b.classList.add('armed');
    shiftArmed = setTimeout(() => {
      shiftArmed = null;
      b.textContent = 'Start new shift';
      b.classList.remove('armed');
    }, 5000);
    return;
  }
  clearTimeout(shiftArmed);
  shiftArmed = null;
  b.textContent = 'Start new shift';
  b.classList.remove('armed');
  try {
    const r = await api.newShift();
    $('export-from').value = isoToLocalInput(new Date(r.started));
    await refreshThroughput();
  } catch (e) {
    reportError(e, 'Starting a new shift');
  }
}

// ---------------------------------------------------------------- issuances

function searchParamsFromHash() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

async function showIssuances(append) {
  const p = new URLSearchParams();
  const hp = searchParamsFromHash();
  const device = $('search-device').value.trim();
  if (device) p.set('device', device);
  if ($('search-state').value) p.set('state', $('search-state').value);
  if ($('search-slot').value) p.set('slot', $('search-slot').value);
  if (hp.get('reason')) p.set('reason', hp.get('reason'));
  p.set('limit', '50');
  if (append && state.issuancesNext) p.set('before', String(state.issuancesNext));
  else p.set('count', '1');
  try {
    const r = await api.issuances(Object.fromEntries(p));
    const body = $('issuances');
    if (!append) body.textContent = '';
    for (const i of r.items || []) {
      const tr = el('tr', { class: 'link', dataset: { id: i.id, state: i.state } },
        el('td', { class: 'num', text: i.id }),
        el('td', { text: fmtDateTime(i.created) }),
        el('td', { class: 'mono', text: i.device_id }),
        el('td', { text: i.slot || '' }),
        el('td', {}, el('span', { class: `badge state-${i.state}`, text: i.state })),
        el('td', { title: i.reason_text || '', text: reasonLabel(i.reason) }),
        el('td', { class: 'mono small', text: i.serial ? i.serial.slice(0, 16) + '…' : '' }),
        el('td', { class: 'num', text: fmtMs(i.duration_ms) }));
      tr.addEventListener('click', () => { location.hash = `#/issuance/${i.id}`; });
      body.append(tr);
    }
    state.issuancesNext = r.next_before;
    $('issuances-more').hidden = r.next_before === null || r.next_before === undefined;
    $('issuances-empty').hidden = body.children.length > 0;
    if (!append) {
      const reason = hp.get('reason');
      setText('search-total', r.total !== undefined ? `${fmtInt(r.total)} match${r.total === 1 ? '' : 'es'}${reason ? ` (reason: ${reasonLabel(reason)})` : ''}` : '');
    }
  } catch (e) {
    reportError(e, 'Search');
  }
}

// ---------------------------------------------------------------- one issuance

function splitPem(pem) {
  return (pem || '').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) || [];
}

function field(dl, label, value, cls) {
  if (value === undefined || value === null || value === '') return;
  dl.append(el('dt', { text: label }), el('dd', { class: cls, text: value }));
}

async function showIssuance(id) {
  const dl = $('detail-fields');
  const chain = $('detail-chain');
  dl.textContent = '';
  chain.textContent = '';
  $('detail-pem').hidden = true;
  $('detail-nochain').hidden = true;
  setText('detail-title', `Issuance #${id}`);
  try {
    const [i] = await Promise.all([api.issuance(id), state.status ? null : refreshStatus()]);
    setText('detail-title', `${i.device_id} · #${i.id}`);
    field(dl, 'Device ID', i.device_id, 'mono');
    field(dl, 'State', i.state + (i.reason ? ` (${reasonLabel(i.reason)})` : ''));
    field(dl, 'Why', i.reason_text);
    field(dl, 'Slot', i.slot);
    field(dl, 'Fixture', i.fixture, 'mono');
    field(dl, 'Profile', i.profile);
    field(dl, 'Lot', i.lot);
    field(dl, 'Serial', i.serial, 'mono');
    field(dl, 'Created', fmtDateTime(i.created));
    field(dl, 'Updated', fmtDateTime(i.updated));
    if (i.not_before) field(dl, 'Valid', `${fmtDateTime(i.not_before)} → ${fmtDateTime(i.not_after)}`);
    if (i.duration_ms !== null && i.duration_ms !== undefined) field(dl, 'Exchange', `${fmtMs(i.duration_ms)} ms`);
    if (i.timings) {
      const t = i.timings;
      field(dl, 'Steps', `CSR ${t.csr_ms} ms · sign ${t.issue_ms} ms · chain ${t.chain_ms} ms · read-back ${t.readback_ms} ms · ${fmtInt(t.bytes_in)} B in / ${fmtInt(t.bytes_out)} B out`);
    }
    const c = i.certificate;
    if (c) {
      field(dl, 'Subject', c.subject, 'mono');
      field(dl, 'Issuer', c.issuer, 'mono');
      field(dl, 'SHA-1', c.sha1, 'mono small');
      field(dl, 'SHA-256', c.sha256, 'mono small');
    }
    const blocks = splitPem(i.chain_pem);
    $('detail-nochain').hidden = blocks.length > 0;
    if (blocks.length > 0) {
      const pem = $('detail-pem');
      pem.href = api.pemUrl(i.id);
      pem.hidden = false;
    }
    const caChain = state.status && state.status.ca ? state.status.ca.chain || [] : [];
    blocks.forEach((b, k) => {
      let role = 'Device certificate';
      let subject = c ? c.subject : '';
      if (k > 0) {
        const ca = caChain[k - 1];
        role = ca ? (ca.role === 'root' ? 'Root CA' : ca.role === 'issuing' ? 'Issuing CA' : 'Intermediate CA') : 'CA certificate';
        subject = ca ? ca.subject : '';
      }
      chain.append(el('li', { class: 'chain-item' },
        el('div', { class: 'chain-role', text: role }),
        el('div', { class: 'chain-subject mono', text: subject }),
        el('details', {}, el('summary', { text: 'PEM' }), el('pre', { class: 'pem', text: b }))));
    });
  } catch (e) {
    if (e.status === 404) setText('detail-title', `Issuance #${id} does not exist`);
    reportError(e, `Loading issuance #${id}`);
  }
}

// ---------------------------------------------------------------- CA / HSM

async function refreshStatus() {
  try {
    const s = await api.status();
    state.status = s;
    if (s.now) state.clockSkewMs = Date.parse(s.now) - Date.now();
    setIssuing(s.issuing, s.hsm ? s.hsm.state : 'ok', s.hsm ? s.hsm.reason : '');
    if (state.view === 'ca') renderCa();
    return s;
  } catch (e) {
    reportError(e, 'Loading station status');
    return null;
  }
}

// pkcs11:token=line1;object=issuing-ca;type=private -> {token, object, type}
function uriAttrs(uri) {
  const out = {};
  const path = (uri || '').replace(/^pkcs11:/, '').split('?')[0];
  for (const kv of path.split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) {
      try {
        out[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
      } catch (_) {
        out[kv.slice(0, i)] = kv.slice(i + 1);
      }
    }
  }
  return out;
}

// {count, mean, p50, p99[, window_s]} in µs; p50/p99 are histogram bucket bounds
function latencyText(l, recent) {
  if (!l || !l.count) return recent ? 'no signature in the last minutes' : 'not measured yet';
  const q = (v) => (v === null || v === undefined ? '–' : `≤ ${fmtInt(v)} µs`);
  const mean = typeof l.mean === 'number' ? ` · mean ${l.mean.toFixed(1)} µs` : '';
  const win = recent && l.window_s ? ` over the last ${fmtDuration(l.window_s)}` : '';
  return `p50 ${q(l.p50)} · p99 ${q(l.p99)}${mean} (${fmtInt(l.count)} signatures${win})`;
}

function renderCa() {
  const s = state.status;
  if (!s) return;
  const h = s.hsm || {};
  const dl = $('hsm-fields');
  dl.textContent = '';
  field(dl, 'State', h.state + (h.reason ? `: ${h.reason}` : ''), `hsm-${h.state}`);
  const uri = uriAttrs((s.ca || {}).key_uri);
  field(dl, 'Token / key', `${h.token || uri.token || '?'} / ${h.key_label || uri.object || '?'}`);
  field(dl, 'Last signature', h.last_sign_us ? `${fmtInt(h.last_sign_us)} µs` : 'none yet');
  field(dl, 'Sign latency', latencyText(h.recent_sign_latency_us, true));
  field(dl, 'Since start', latencyText(h.sign_latency_us, false));
  field(dl, 'Signatures', `${fmtInt(h.signatures)} good · ${fmtInt(h.failures)} failed · ${fmtInt(h.reopens)} session reopens · ${fmtInt(h.module_restarts)} module restarts`);
  field(dl, 'Sessions', `${fmtInt(h.sessions_busy)} busy of ${fmtInt(h.sessions_total)}`);

  const ld = s.ledger || {};
  const dl2 = $('ledger-fields');
  dl2.textContent = '';
  field(dl2, 'Ledger', ld.ok ? 'ok' : `cannot be read: ${ld.error}`, ld.ok ? 'hsm-ok' : 'hsm-down');
  field(dl2, 'File', ld.path, 'mono small');
  field(dl2, 'Size', `${fmtInt(ld.size_bytes)} B (WAL ${fmtInt(ld.wal_bytes)} B)`);
  field(dl2, 'Last commit', ld.last_commit ? fmtDateTime(ld.last_commit) : 'none yet');
  field(dl2, 'Commits', `${fmtInt(ld.commits)} (${fmtInt(ld.ops_committed)} ops, ${fmtInt(ld.commit_failures)} failed)`);
  field(dl2, 'Station', `version ${s.version}, up ${fmtDuration(s.uptime_s)} (since ${fmtDateTime(s.started)})`);
  if (s.web) field(dl2, 'Dashboard', `${fmtInt(s.web.sessions)} sessions, ${fmtInt(s.web.streams)} live streams${s.web.tls ? ', HTTPS' : ''}`);

  const ca = s.ca || {};
  setText('ca-key', `${ca.key_type || ''} · ${ca.signature_algorithm || ''} · ${ca.key_uri || ''}`);
  const body = $('ca-chain');
  body.textContent = '';
  for (const c of ca.chain || []) {
    const tr = el('tr', { dataset: { role: c.role } },
      el('td', { text: c.role }),
      el('td', { class: 'mono', text: c.subject }),
      el('td', { text: fmtDateTime(c.not_before) }),
      el('td', { text: fmtDateTime(c.not_after) }),
      el('td', { class: 'num', text: fmtInt(c.days_left) }));
    if (c.days_left < 30) tr.classList.add('expiring');
    body.append(tr);
  }
  const pb = $('profiles');
  pb.textContent = '';
  for (const p of s.profiles || []) {
    pb.append(el('tr', {},
      el('td', { text: p.name + (p.default ? ' (default)' : '') }),
      el('td', { text: (p.key_types || []).join(', ') }),
      el('td', { text: p.not_after_forever ? 'never expires' : `${p.validity_days} days` }),
      el('td', { text: p.require_allowlist ? 'work order required' : 'any device' })));
  }
}

// ---------------------------------------------------------------- routing

function route() {
  if (!state.session) return;
  const h = location.hash.replace(/^#\/?/, '');
  const [path] = h.split('?');
  const parts = path.split('/');
  let view = parts[0] || 'overview';
  if (!['overview', 'issuances', 'issuance', 'ca'].includes(view)) view = 'overview';
  state.view = view;
  for (const v of document.querySelectorAll('main.view')) v.hidden = v.dataset.view !== view;
  for (const a of document.querySelectorAll('.tabs a'))
    a.classList.toggle('active', a.dataset.view === view || (view === 'issuance' && a.dataset.view === 'issuances'));
  if (view === 'overview' && state.chart) {
    state.chart.draw(); // it could not size itself while hidden
  } else if (view === 'issuances') {
    const hp = searchParamsFromHash();
    for (const [k, id] of [['device', 'search-device'], ['state', 'search-state'], ['slot', 'search-slot']])
      if (hp.has(k)) $(id).value = hp.get(k);
    showIssuances(false);
  } else if (view === 'issuance') {
    showIssuance(parts[1]);
  } else if (view === 'ca') {
    renderCa();
    refreshStatus();
  }
}

// ---------------------------------------------------------------- start

async function boot() {
  setUnauthenticatedHandler(() => showLogin('Your session ended. Log in again.'));
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', async () => {
    try {
      await api.logout();
    } catch (e) {
      // the session is gone either way
    }
    showLogin('');
  });
  $('line-pause').addEventListener('click', () => pauseLine(true));
  $('line-resume').addEventListener('click', () => pauseLine(false));
  $('export-form').addEventListener('submit', onExport);
  $('new-shift').addEventListener('click', onNewShift);
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showIssuances(false);
  });
  $('search-state').addEventListener('change', () => showIssuances(false));
  $('search-slot').addEventListener('change', () => showIssuances(false));
  $('issuances-more').addEventListener('click', () => showIssuances(true));
  $('failures').addEventListener('click', (ev) => {
    const row = ev.target.closest('.bar-row');
    if (row) location.hash = `#/issuances?state=FAILED&reason=${encodeURIComponent(row.dataset.reason)}`;
  });
  window.addEventListener('hashchange', route);
  state.timers = [];
  setInterval(() => { if (state.view === 'ca' && state.session) refreshStatus(); }, 5000);

  try {
    enterApp(await api.session());
  } catch (e) {
    if (e.status === 401) showLogin('');
    else showLogin(e.message);
  }
}

boot();
