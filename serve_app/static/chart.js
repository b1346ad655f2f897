// A small two-series line chart on a canvas (no library needed).
"use strict";
function drawChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 34;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px sans-serif";
  series.forEach((s, k) => {
    const points = s.points;
    if (points.length === 0) return;
    const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const y1 = Math.max(...ys, 1);
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(([x, y], i) => {
      const px = pad + (x - x0) / (x1 - x0) * (w - 2 * pad);
      const py = h - pad - y / y1 * (h - 2 * pad);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
    ctx.fillText(`${s.label} (max ${y1.toFixed(1)})`, pad + k * 200, 14);
  });
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
}
