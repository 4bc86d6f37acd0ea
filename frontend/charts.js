// Line charts as plain SVG: one series of [x, y] points, its axes' ranges labelled, the
// last value written out. No chart library: the console runs without a Node toolchain.

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const HEIGHT = 160;
const PAD = { left: 44, right: 10, top: 10, bottom: 22 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** A short number: 0.0421, 12.5, 1200, 3.1e-5. */
export function shortNumber(value) {
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1e5 || size < 1e-3) return value.toExponential(1);
  return String(Number(value.toPrecision(3)));
}

/** A chart of `points` ([[x, y], ...]) titled `title`, x labelled `xLabel`. */
export function lineChart(title, points, { xLabel = "step", testId = null } = {}) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (WIDTH - PAD.left - PAD.right);
  const sy = (y) => HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - PAD.top - PAD.bottom);
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
    .join(" ");
  const last = points[points.length - 1];
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "line-chart",
    role: "img", "aria-label": `${title}: ${points.length} points, last ${shortNumber(last[1])} `
      + `at ${xLabel} ${last[0]}` },
  svg("line", { x1: PAD.left, y1: HEIGHT - PAD.bottom, x2: WIDTH - PAD.right,
    y2: HEIGHT - PAD.bottom, class: "chart-axis" }),
  svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: HEIGHT - PAD.bottom,
    class: "chart-axis" }),
  svg("text", { x: PAD.left - 4, y: PAD.top + 8, class: "chart-label", "text-anchor": "end" },
    shortNumber(y1)),
  svg("text", { x: PAD.left - 4, y: HEIGHT - PAD.bottom, class: "chart-label",
    "text-anchor": "end" }, shortNumber(y0)),
  svg("text", { x: PAD.left, y: HEIGHT - 6, class: "chart-label" }, `${xLabel} ${x0}`),
  svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, class: "chart-label",
    "text-anchor": "end" }, String(x1)),
  svg("path", { d: path, class: "chart-line" }),
  svg("circle", { cx: sx(last[0]), cy: sy(last[1]), r: 3, class: "chart-dot" }));
  return h("figure", { class: "chart", ...(testId ? { "data-testid": testId } : {}) },
    h("figcaption", {}, h("span", { class: "chart-title" }, title),
      h("span", { class: "chart-last" }, shortNumber(last[1]))),
    chart);
}
