// The selected SKU's chart (uPlot, vendored): time on the x-axis, available stock on the
// left axis (units), units ordered per minute on the right axis, a vertical marker per
// alert notification. Filled from GET /v1/skus/{sku}/history, then kept live.
// uPlot draws at devicePixelRatio, so it is sharp on high-DPI screens.
"use strict";

/* global uPlot */

const LEVEL_COLOURS = { TREND: "#ca8a04", THRESHOLD: "#ea580c", EMERGENCY: "#dc2626", CHANNEL_STALLED: "#7c3aed" };
// a marker's label: the level's two letters (TREND and THRESHOLD share their first)
const SHORT = { TREND: "TR", THRESHOLD: "TH", EMERGENCY: "EM", CHANNEL_STALLED: "CH" };
const LEVEL_RANK = { TREND: 1, THRESHOLD: 2, CHANNEL_STALLED: 2, EMERGENCY: 3 };
let plot = null;
let markers = [];

function markerPlugin() {
  return {
    hooks: {
      draw: (u) => {
        const { ctx, bbox } = u;
        const px = devicePixelRatio;
        ctx.save();
        ctx.font = `${Math.round(10 * px)}px system-ui, sans-serif`;
        const labels = [];  // [x, text, colour, rank]: one per cluster of close markers
        for (const m of markers) {
          const x = Math.round(u.valToPos(m.at, "x", true));
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          const colour = m.kind === "resolved" ? "#16a34a" : (LEVEL_COLOURS[m.level] || "#555");
          ctx.strokeStyle = colour;
          ctx.lineWidth = px;
          ctx.setLineDash(m.kind === "resolved" || m.silenced || m.inhibited ? [4 * px, 3 * px] : []);
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          const text = m.kind === "resolved" ? "✓" : (SHORT[m.level] || m.level) + (m.kind === "escalated" ? "↑" : "");
          const weight = m.kind === "resolved" ? 0 : (LEVEL_RANK[m.level] || 0);
          const last = labels[labels.length - 1];
          if (last && x - last[0] < 22 * px) {  // close markers share one label: the highest level's
            if (weight > last[3]) labels[labels.length - 1] = [last[0], text, colour, weight];
          } else {
            labels.push([x, text, colour, weight]);
          }
        }
        for (const [x, text, colour] of labels) {
          ctx.fillStyle = colour;
          ctx.fillText(text, x + 2 * px, bbox.top + 11 * px);
        }
        ctx.restore();
      },
    },
  };
}

function options(width) {
  return {
    width,
    height: 260,
    plugins: [markerPlugin()],
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true }, units: { auto: true, range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
              rate: { auto: true, range: (u, min, max) => [0, Math.max(1, max * 1.2)] } },
    axes: [
      { label: "time", labelSize: 18 },
      { scale: "units", label: "available (units)", labelSize: 18, stroke: "#15803d" },
      { scale: "rate", side: 1, label: "ordered (units/min)", labelSize: 18, stroke: "#1d4ed8", grid: { show: false } },
    ],
    series: [
      { label: "time" },
      { label: "available", scale: "units", stroke: "#16a34a", width: 2, fill: "rgba(22,163,74,0.08)",
        value: (u, v) => (v === null ? "-" : `${v} units`) },
      { label: "ordered", scale: "rate", stroke: "#2563eb", width: 1.5, paths: uPlot.paths.stepped({ align: 1 }),
        value: (u, v) => (v === null ? "-" : `${v}/min`) },
    ],
  };
}

/** Draw ``history`` (the history endpoint's answer) in ``element``, replacing what was there. */
export function drawHistory(element, history, live) {
  const points = history.points.slice();
  const xs = points.map((p) => p.minute);
  const available = points.map((p) => p.available);
  const ordered = points.map((p) => p.ordered);
  if (live && (!xs.length || live.at > xs[xs.length - 1])) {
    xs.push(live.at);
    available.push(live.available);
    ordered.push(ordered.length ? ordered[ordered.length - 1] : 0);
  }
  markers = history.markers;
  element.dataset.points = String(xs.length);
  element.dataset.markers = String(markers.length);
  const data = [xs, available, ordered];
  const width = Math.max(320, element.clientWidth - 8);
  if (plot && plot.root.parentNode === element) {
    if (plot.width !== width) plot.setSize({ width, height: 260 });
    plot.setData(data);
  } else {
    element.replaceChildren();
    plot = new uPlot(options(width), data, element);
  }
  return xs.length;
}

export function resizeChart(element) {
  if (plot) plot.setSize({ width: Math.max(320, element.clientWidth - 8), height: 260 });
}
