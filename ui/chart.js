// Small charts for the manager dashboard, drawn as SVG by our own code
// (document.createElementNS; no library, nothing from outside): columns
// (one per day, today's marked; or today / 7 days / 28 days side by side)
// and horizontal bars (touchpoints per journey stage). Numbers only ever
// become attributes and text nodes. A value of null (a rate without a
// denominator) is drawn as a gap, never as 0.
// Imports nothing.

const NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v != null) e.setAttribute(k, String(v));
  }
  if (text != null) e.textContent = String(text);
  return e;
}

const W = 300;
const H = 96;
const TOP = 16; // room for the largest value's label
const BOTTOM = 16; // room for the labels under the columns

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

// `points`: [{label, value (number or null), mark (today)}]; `fmt` turns a
// value into short text. With up to five points every column is labelled
// and carries its value; with more, the first and last label and the
// largest value are shown.
export function columns(points, { fmt = String, title = '', testid = null } = {}) {
  const svg = svgEl('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title, 'data-testid': testid,
  });
  svg.append(svgEl('title', {}, title));
  const values = points.map((p) => p.value).filter(finite);
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values); // NPS can be negative
  const span = max - min || 1;
  const plot = H - TOP - BOTTOM;
  const zeroY = TOP + plot * (max / span);
  const n = Math.max(points.length, 1);
  const slot = W / n;
  const few = points.length <= 5;
  const barW = Math.max(1, slot * (few ? 0.5 : 0.72));
  points.forEach((p, i) => {
    const x = i * slot + (slot - barW) / 2;
    const cx = i * slot + slot / 2;
    if (!finite(p.value)) {
      svg.append(svgEl('rect', { x, y: zeroY - 1, width: barW, height: 2, class: 'chart-gap' }));
    } else {
      const h = (Math.abs(p.value) / span) * plot;
      const y = p.value >= 0 ? zeroY - h : zeroY;
      const bar = svgEl('rect', {
        x, y, width: barW, height: Math.max(h, 1), class: p.mark ? 'chart-bar chart-mark' : 'chart-bar',
      });
      bar.append(svgEl('title', {}, `${p.label}: ${fmt(p.value)}`));
      svg.append(bar);
      if (few) {
        svg.append(svgEl('text', { x: cx, y: Math.max(y - 3, 11), class: 'chart-value', 'text-anchor': 'middle' }, fmt(p.value)));
      }
    }
    if (few) {
      svg.append(svgEl('text', { x: cx, y: H - 3, class: 'chart-label', 'text-anchor': 'middle' }, p.label));
    }
  });
  svg.append(svgEl('line', { x1: 0, x2: W, y1: zeroY, y2: zeroY, class: 'chart-axis' }));
  if (!few && points.length) {
    svg.append(svgEl('text', { x: 2, y: 11, class: 'chart-value' }, values.length ? fmt(max) : '–'));
    svg.append(svgEl('text', { x: 2, y: H - 3, class: 'chart-label' }, points[0].label));
    svg.append(svgEl('text', { x: W - 2, y: H - 3, class: 'chart-label', 'text-anchor': 'end' }, points[points.length - 1].label));
  }
  return svg;
}

// `rows`: [{label, value}], one horizontal bar each, the value at its end.
export function bars(rows, { fmt = String, title = '', testid = null } = {}) {
  const rowH = 18;
  const height = Math.max(rows.length, 1) * rowH + 4;
  const labelW = 112;
  const valueW = 44;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${W} ${height}`, class: 'chart chart-bars', role: 'img', 'aria-label': title, 'data-testid': testid,
  });
  svg.append(svgEl('title', {}, title));
  const max = Math.max(1, ...rows.map((r) => r.value).filter(finite));
  rows.forEach((r, i) => {
    const y = 2 + i * rowH;
    const w = finite(r.value) ? ((W - labelW - valueW) * r.value) / max : 0;
    svg.append(svgEl('text', { x: 0, y: y + 13, class: 'chart-label' }, r.label));
    svg.append(svgEl('rect', { x: labelW, y: y + 3, width: Math.max(w, 1), height: rowH - 6, class: 'chart-bar' }));
    svg.append(svgEl('text', { x: labelW + w + 4, y: y + 13, class: 'chart-value' }, finite(r.value) ? fmt(r.value) : '–'));
  });
  return svg;
}
