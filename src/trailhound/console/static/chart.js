// Charts drawn as SVG with DOM calls (no library, nothing fetched): stacked bars over time, and a span
// timeline. Labels are text nodes like everything else; colours come from the stylesheet (dark mode too).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function niceMax(v) {  // a round top for the axis: 1, 2, 5 × 10^n
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// columns: [{label, href?, values: {series: number}}]; series: [{key, label, cls}]; format: value -> text
function stackedBars(id, title, columns, series, format) {
  const W = 760, H = 220, left = 56, bottom = 28, top = 10;
  const totals = columns.map((c) => series.reduce((a, x) => a + (c.values[x.key] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const step = (W - left - 8) / Math.max(columns.length, 1);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const grid = [0, 0.5, 1].map((f) => [s("line", { x1: left, x2: W - 4, y1: y(max * f), y2: y(max * f), class: "grid" }),
    s("text", { x: left - 6, y: y(max * f) + 4, "text-anchor": "end", class: "axis" }, format(max * f))]);
  const every = Math.ceil(columns.length / 10);
  const bars = columns.map((c, i) => {
    let base = 0;
    const rects = series.map((x) => {
      const v = c.values[x.key] || 0;
      if (!v) return null;
      const r = s("rect", { x: left + i * step + 2, width: Math.max(step - 4, 1), y: y(base + v), height: y(base) - y(base + v), class: `bar ${x.cls}`, "data-series": x.key, "data-value": v });
      base += v;
      return r;
    });
    const label = `${c.label}: ` + series.filter((x) => c.values[x.key]).map((x) => `${x.label} ${format(c.values[x.key])}`).join(", ");
    const group = s("g", { class: "column", "data-label": c.label, "data-total": totals[i] }, s("title", {}, label || c.label), rects);
    const tick = i % every === 0 ? s("text", { x: left + i * step + step / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, c.label) : null;
    const hit = c.href ? s("a", { href: c.href, "aria-label": label }, group) : group;
    return [hit, tick];
  });
  const legend = h("p", { class: "legend" }, series.map((x) => h("span", { class: "key" }, h("span", { class: `swatch ${x.cls}` }), x.label)));
  const chart = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title, id },
    s("title", {}, title), grid, bars);
  return h("figure", { class: "chart-box" }, chart, legend);
}

// a finding's occurrences: the store keeps count, first and last seen (not each one), drawn as a span;
// an attack sequence's signals each get a span of their own on the same axis
function timeline(id, spans) {
  const times = spans.flatMap((x) => [Date.parse(x.first), Date.parse(x.last)]).filter((t) => !Number.isNaN(t));
  if (!times.length) return null;
  const lo = Math.min(...times), hi = Math.max(...times), W = 760, left = 200, row = 22;
  const x = (t) => left + (W - left - 12) * (hi === lo ? 0.5 : (t - lo) / (hi - lo));
  const rows = spans.map((sp, i) => {
    const a = x(Date.parse(sp.first)), b = x(Date.parse(sp.last));
    return s("g", { class: "span" }, s("title", {}, `${sp.label}: ${sp.count} between ${sp.first} and ${sp.last}`),
      s("text", { x: left - 8, y: i * row + 15, "text-anchor": "end", class: "axis" }, sp.label.length > 28 ? sp.label.slice(0, 27) + "…" : sp.label),
      s("line", { x1: a, x2: Math.max(b, a + 1), y1: i * row + 11, y2: i * row + 11, class: "span-line" }),
      s("circle", { cx: a, cy: i * row + 11, r: 4, class: "span-end" }), s("circle", { cx: b, cy: i * row + 11, r: 4, class: "span-end" }),
      s("text", { x: Math.min(b + 8, W - 40), y: i * row + 15, class: "axis" }, `×${sp.count}`));
  });
  const H = spans.length * row + 24;
  const axis = [s("text", { x: left, y: H - 4, class: "axis" }, new Date(lo).toISOString().slice(0, 16).replace("T", " ")),
    s("text", { x: W - 12, y: H - 4, "text-anchor": "end", class: "axis" }, new Date(hi).toISOString().slice(0, 16).replace("T", " "))];
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "occurrences over time", id }, rows, axis);
}
