// format.js: numbers, times and small DOM helpers for the dashboard.

// el('td', {class: 'num', text: '12'}, child...): textContent only, never
// innerHTML, so a device ID or a reason sentence cannot inject markup.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function setText(id, text) {
  const e = document.getElementById(id);
  if (e) e.textContent = text;
}

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return n >= 100 ? fmtInt(n) : n.toFixed(1);
}

// yield is 0..1 or null (no device yet)
export function fmtYield(y) {
  if (y === null || y === undefined || y < 0) return '–';
  const p = y * 100;
  return (p === 100 ? '100' : p.toFixed(1)) + ' %';
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '';
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}

function pad(n) { return String(n).padStart(2, '0'); }

// Local wall-clock time: operators read the PC's clock, not UTC.
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDateTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  if (d.getUTCFullYear() >= 9999) return 'never expires (99991231235959Z)';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(iso)}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

// value of <input type=datetime-local> (local time) -> ISO UTC, or undefined
export function localInputToIso(v) {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function isoToLocalInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A failure reason token as a sentence fragment people read on the floor.
const REASONS = {
  'device-timeout': 'device timed out',
  'device-gone': 'device disconnected',
  'device-protocol': 'protocol error',
  'device-too-large': 'message too large',
  'readback-mismatch': 'read-back mismatch',
  'device-error': 'device reported an error',
  'csr-nonce': 'CSR nonce wrong (replay?)',
  'csr-signature': 'CSR signature invalid',
  'csr-key-type': 'key type not allowed',
  'device-id-rejected': 'device ID rejected',
  'device-not-allowlisted': 'device not on work order',
  'lot-quota-exhausted': 'lot quota used up',
  'reissue-refused': 'reissue refused',
  aborted: 'aborted',
  'hsm-down': 'HSM down',
};

export function reasonLabel(token) {
  if (!token) return '';
  return REASONS[token] || token.replace(/-/g, ' ');
}
