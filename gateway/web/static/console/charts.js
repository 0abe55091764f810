/* Small SVG charts drawn here, with no library and nothing from elsewhere: bars (stacked
 * or side by side) and a line, over days. Attributes only (the page's CSP allows no
 * inline style); every mark has a <title> for its value.
 */
import { el } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 520, H = 210, LEFT = 40, RIGHT = 10, TOP = 12, BOTTOM = 28;
export const PALETTE = ["#1f5fbf", "#1c7c3c", "#a15c00", "#7b3fb5", "#c22525", "#0c7a8a", "#5d6677", "#b5467a", "#3a6e00", "#8a4210"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const child of children) if (child) node.append(child);
  return node;
}

function title(text) {
  const node = svg("title");
  node.textContent = text;
  return node;
}

function frame(label, max, format, days) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart", preserveAspectRatio: "xMidYMid meet" });
  const plotH = H - TOP - BOTTOM;
  for (let i = 0; i <= 4; i++) {
    const y = TOP + plotH - (plotH * i) / 4;
    root.append(
      svg("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, stroke: "#dde1e8", "stroke-width": 1 }),
      Object.assign(svg("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "tick" }), { textContent: format((max * i) / 4) }),
    );
  }
  const step = (W - LEFT - RIGHT) / Math.max(1, days.length);
  const every = Math.ceil(days.length / 8);
  days.forEach((day, i) => {
    if (i % every) return;
    const text = svg("text", { x: LEFT + step * (i + 0.5), y: H - 10, "text-anchor": "middle", class: "tick" });
    text.textContent = day.slice(5);
    root.append(text);
  });
  return { root, plotH, step };
}

/* series: [{label, color, values[]}], one value per day; stacked or side by side. */
export function barChart({ label, days, series, stacked = true, format = (v) => String(Math.round(v)) }) {
  const totals = days.map((_, i) => (stacked ? series.reduce((s, x) => s + (x.values[i] || 0), 0) : Math.max(0, ...series.map((x) => x.values[i] || 0))));
  const max = countMax(Math.max(1, ...totals));
  const { root, plotH, step } = frame(label, max, format, days);
  const width = step * 0.7;
  days.forEach((day, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (!v) return;
      const h = (plotH * v) / max;
      const x = LEFT + step * i + (step - width) / 2 + (stacked ? 0 : (width / series.length) * k);
      const y = TOP + plotH - h - (stacked ? (plotH * base) / max : 0);
      root.append(svg("rect", { x, y, width: stacked ? width : width / series.length, height: h, fill: s.color, "data-series": s.key || s.label }, title(`${day} · ${s.label}: ${format(v)}`)));
      base += v;
    });
  });
  return figure(label, root, series);
}

/* One line over the days; gaps where a day has no value. */
export function lineChart({ label, days, values, min = 0, max, format, color = PALETTE[0] }) {
  const top = max !== undefined ? max : niceMax(Math.max(1, ...values.filter((v) => v != null)));
  const { root, plotH, step } = frame(label, top - min, (v) => format(v + min), days);
  const point = (v, i) => [LEFT + step * (i + 0.5), TOP + plotH - (plotH * (v - min)) / (top - min)];
  let path = "";
  values.forEach((v, i) => {
    if (v == null) return;
    const [x, y] = point(v, i);
    path += `${path && values[i - 1] != null ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
  });
  if (path) root.append(svg("path", { d: path.trim(), fill: "none", stroke: color, "stroke-width": 2.5 }));
  values.forEach((v, i) => {
    if (v == null) return;
    const [x, y] = point(v, i);
    root.append(svg("circle", { cx: x, cy: y, r: 4, fill: color, "data-day": days[i] }, title(`${days[i]}: ${format(v)}`)));
  });
  return figure(label, root, []);
}

function figure(label, chart, series) {
  const legend = series.length > 1
    ? el("ul", { className: "legend" }, ...series.map((s) =>
        el("li", {}, el("span", { className: "swatch", "aria-hidden": "true" }, swatch(s.color)), s.label)))
    : null;
  return el("figure", { className: "chart-card" }, el("figcaption", { text: label }), chart, legend);
}

function swatch(color) {
  return svg("svg", { viewBox: "0 0 10 10", width: 10, height: 10 }, svg("rect", { width: 10, height: 10, rx: 2, fill: color }));
}

/* A top for counts whose four gridlines fall on whole numbers. */
function countMax(v) {
  const quarter = v / 4;
  const p = Math.pow(10, Math.floor(Math.log10(quarter)));
  for (const m of [1, 2, 5, 10]) if (m * p >= quarter && Number.isInteger(m * p)) return 4 * m * p;
  return 4 * Math.ceil(quarter);
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
