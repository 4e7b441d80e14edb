// charts.js: the throughput chart (uPlot) and failures by reason (bars).
//
// Throughput: one bar per minute over the last hour. Each minute draws the
// devices that finished (green) and, over its lower part, the failed ones
// (red): a stacked bar without uPlot's stacking plugin.

import { el, fmtInt, reasonLabel } from './format.js';

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function hhmm(ts) {
  const d = new Date(ts * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export class ThroughputChart {
  constructor(container) {
    this.container = container;
    this.plot = null;
    this.minutes = []; // [{start (ms), passed, failed}], oldest first
    this.resizeObserver = null;
  }

  // minutes: API objects {start: ISO, passed, failed}
  setMinutes(minutes) {
    this.minutes = minutes.map((m) => ({ start: Date.parse(m.start), passed: m.passed, failed: m.failed }));
    this.draw();
  }

  // the current minute from a `stats` event: replace it, or start a new one
  updateMinute(m) {
    if (!m || !m.start) return;
    const start = Date.parse(m.start);
    const last = this.minutes[this.minutes.length - 1];
    if (last && last.start === start) {
      last.passed = m.passed;
      last.failed = m.failed;
    } else if (!last || start > last.start) {
      this.minutes.push({ start, passed: m.passed, failed: m.failed });
      while (this.minutes.length > 60) this.minutes.shift();
    }
    this.draw();
  }

  data() {
    const xs = this.minutes.map((m) => m.start / 1000);
    const total = this.minutes.map((m) => m.passed + m.failed);
    const failed = this.minutes.map((m) => m.failed);
    return [xs, total, failed];
  }

  size() {
    const w = Math.max(200, this.container.clientWidth);
    const h = Math.max(160, Math.min(360, Math.round(w * 0.38)));
    return { width: w, height: h };
  }

  draw() {
    if (typeof window.uPlot !== 'function') {
      this.container.textContent = 'The chart library did not load.';
      return;
    }
    if (this.plot) {
      this.plot.setData(this.data());
      return;
    }
    if (this.container.clientWidth === 0) return; // hidden view: drawn when shown
    const uPlot = window.uPlot;
    const axisColor = cssVar('--fg-dim', '#9aa4b2');
    const gridColor = cssVar('--grid', '#2a3340');
    const bars = uPlot.paths.bars({ size: [0.8, 40], align: 0 });
    const axis = {
      stroke: axisColor,
      grid: { stroke: gridColor, width: 1 },
      ticks: { stroke: gridColor, width: 1 },
      font: '14px system-ui, sans-serif',
    };
    const opts = {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      // 24-hour clock, as on the line's PCs and shift plans
      axes: [{ ...axis, values: (u, splits) => splits.map(hhmm) }, { ...axis, size: 50, values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? v : '')) }],
      series: [
        {},
        { label: 'devices', fill: cssVar('--pass', '#1f9d55'), stroke: cssVar('--pass', '#1f9d55'), width: 0, paths: bars, points: { show: false } },
        { label: 'failed', fill: cssVar('--fail', '#d64545'), stroke: cssVar('--fail', '#d64545'), width: 0, paths: bars, points: { show: false } },
      ],
    };
    this.container.textContent = '';
    this.plot = new uPlot(opts, this.data(), this.container);
    this.resizeObserver = new ResizeObserver(() => {
      if (this.plot && this.container.clientWidth > 0) this.plot.setSize(this.size());
    });
    this.resizeObserver.observe(this.container);
  }
}

// failures: [{reason, shift, total}] most frequent first; shows the shift's
export function renderFailures(container, emptyNote, failures) {
  const rows = (failures || []).filter((f) => f.shift > 0);
  container.textContent = '';
  emptyNote.hidden = rows.length > 0;
  const max = rows.reduce((m, f) => Math.max(m, f.shift), 0);
  for (const f of rows) {
    const fill = el('div', { class: 'bar-fill' });
    // CSSOM, not a style attribute: allowed under the page's CSP
    fill.style.width = `${max ? Math.max(2, (100 * f.shift) / max) : 0}%`;
    container.append(
      el('div', { class: 'bar-row', dataset: { reason: f.reason } },
        el('div', { class: 'bar-label', title: f.reason, text: reasonLabel(f.reason) }),
        el('div', { class: 'bar-track' }, fill),
        el('div', { class: 'bar-count', text: fmtInt(f.shift) })));
  }
}
