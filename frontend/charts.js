// Line charts as plain SVG: one series of [x, y] points (lineChart), or several on one
// pair of axes, each in its colour with a legend, x as a step or as a time (seriesChart).
// The axes' ranges are labelled and the last values written out. No chart library: the
// console runs without a Node toolchain.

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const HEIGHT = 160;
const PAD = { left: 44, right: 10, top: 10, bottom: 22 };
// One colour per series, in order; they repeat past the eighth.
export const SERIES_COLORS = ["#4f46e5", "#0e9f6e", "#d97706", "#dc2626", "#0891b2", "#9333ea",
  "#65a30d", "#db2777"];

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

/** A reading as written in a legend: whole from 100 on (4096 MiB, not 4100), else short. */
export function readingText(value) {
  return Math.abs(value) >= 100 && Math.abs(value) < 1e7 ? String(Math.round(value))
    : shortNumber(value);
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const clockSeconds = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** An x value as written on the axis: a clock time (ms since the epoch), else the number. */
function xText(x, time, span) {
  if (!time) return String(x);
  return (span < 5 * 60_000 ? clockSeconds : clock).format(new Date(x));
}

/** The extent of the numbers in `values`, and of `low`/`high` where given; never empty. */
function extent(values, low, high) {
  let lo = low ?? Math.min(...values);
  let hi = high ?? Math.max(...values);
  if (!Number.isFinite(lo)) lo = 0;
  if (!Number.isFinite(hi)) hi = lo + 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (lo === hi) return lo === 0 ? [0, 1] : [lo - Math.abs(lo) / 2, hi + Math.abs(hi) / 2];
  return [lo, hi];
}

/** The SVG path of `points` scaled by sx, sy; a null y breaks the line. */
function pathOf(points, sx, sy) {
  let pen = "M";
  const parts = [];
  for (const [x, y] of points) {
    if (y === null || y === undefined) {
      pen = "M";
      continue;
    }
    parts.push(`${pen}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    pen = "L";
  }
  return parts.join(" ");
}

/** The last point of `points` with a value, or null. */
function lastValue(points) {
  for (let i = points.length - 1; i >= 0; i -= 1) {
    if (points[i][1] !== null && points[i][1] !== undefined) return points[i];
  }
  return null;
}

/** The <svg> of `series` ({name, points, color}) on axes from `x` and `y` ([lo, hi]). */
function plot(series, { x: [x0, x1], y: [y0, y1], time, xLabel, label,
  yText = shortNumber }) {
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (WIDTH - PAD.left - PAD.right);
  const sy = (y) => HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - PAD.top - PAD.bottom);
  const span = x1 - x0;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "line-chart",
    role: "img", "aria-label": label },
  svg("line", { x1: PAD.left, y1: HEIGHT - PAD.bottom, x2: WIDTH - PAD.right,
    y2: HEIGHT - PAD.bottom, class: "chart-axis" }),
  svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: HEIGHT - PAD.bottom,
    class: "chart-axis" }),
  svg("text", { x: PAD.left - 4, y: PAD.top + 8, class: "chart-label", "text-anchor": "end" },
    yText(y1)),
  svg("text", { x: PAD.left - 4, y: HEIGHT - PAD.bottom, class: "chart-label",
    "text-anchor": "end" }, yText(y0)),
  svg("text", { x: PAD.left, y: HEIGHT - 6, class: "chart-label" },
    time ? xText(x0, time, span) : `${xLabel} ${x0}`),
  svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, class: "chart-label",
    "text-anchor": "end" }, xText(x1, time, span)));
  if (time) {
    const mid = (x0 + x1) / 2;
    chart.append(
      svg("line", { x1: sx(mid), y1: PAD.top, x2: sx(mid), y2: HEIGHT - PAD.bottom,
        class: "chart-grid" }),
      svg("text", { x: sx(mid), y: HEIGHT - 6, class: "chart-label", "text-anchor": "middle" },
        xText(mid, time, span)));
  }
  for (const one of series) {
    const style = one.color ? { style: `--series: ${one.color}` } : {};
    chart.append(svg("path", { d: pathOf(one.points, sx, sy), class: "chart-line", ...style },
      svg("title", {}, one.name || "")));
    const last = lastValue(one.points);
    if (last) {
      chart.append(svg("circle", { cx: sx(last[0]), cy: sy(last[1]), r: 3, class: "chart-dot",
        ...style }));
    }
  }
  return chart;
}

/** A chart of `points` ([[x, y], ...]) titled `title`, x labelled `xLabel`. */
export function lineChart(title, points, { xLabel = "step", testId = null } = {}) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) x1 = x0 + 1;
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const last = points[points.length - 1];
  const chart = plot([{ points }], { x: [x0, x1], y: [y0, y1], time: false, xLabel,
    label: `${title}: ${points.length} points, last ${shortNumber(last[1])} `
      + `at ${xLabel} ${last[0]}` });
  return h("figure", { class: "chart", ...(testId ? { "data-testid": testId } : {}) },
    h("figcaption", {}, h("span", { class: "chart-title" }, title),
      h("span", { class: "chart-last" }, shortNumber(last[1]))),
    chart);
}

/**
 * A chart of several `series` ({name, points: [[x, y|null], ...]}) titled `title`, each in
 * its colour (SERIES_COLORS, in order) and named in a legend with its last value and
 * `unit`. `time`: x is ms since the epoch, written as a clock time. `x`, `y` ([lo, hi],
 * either end null) fix the axes' ranges (the window asked for, 0–100 %), else they fit the
 * points. A null y is a gap. `testId` goes on the figure, `${testId}-series` on each legend
 * entry.
 */
export function seriesChart(title, series, { time = false, xLabel = "step", x = [null, null],
  y = [null, null], unit = "", testId = null } = {}) {
  const all = series.flatMap((one) => one.points);
  const values = all.map((p) => p[1]).filter((v) => v !== null && v !== undefined);
  const xr = extent(all.map((p) => p[0]), x[0], x[1]);
  const yr = extent(values.length ? values : [0], y[0], y[1]);
  const colored = series.map((one, i) => ({ ...one,
    color: SERIES_COLORS[i % SERIES_COLORS.length] }));
  const lasts = colored.map((one) => lastValue(one.points));
  const say = (point) => (point ? `${readingText(point[1])}${unit}` : "—");
  const chart = plot(colored, { x: xr, y: yr, time, xLabel, yText: readingText,
    label: `${title}: ${colored.map((one, i) => `${one.name} ${say(lasts[i])}`).join(", ")}` });
  return h("figure", { class: "chart", ...(testId ? { "data-testid": testId } : {}) },
    h("figcaption", {}, h("span", { class: "chart-title" }, title),
      colored.length === 1 ? h("span", { class: "chart-last" }, say(lasts[0])) : null),
    chart,
    colored.length > 1 || colored[0]?.name
      ? h("ul", { class: "chart-legend", "aria-label": `${title}: last values` },
        colored.map((one, i) => h("li", { ...(testId ? { "data-testid": `${testId}-series` }
          : {}) },
        h("span", { class: "chart-swatch", style: `background: ${one.color}`,
          "aria-hidden": "true" }),
        h("span", {}, one.name),
        h("span", { class: "chart-last" }, say(lasts[i])))))
      : null);
}
