// The candle chart the dashboard draws, shared with the bot page: CandleChart.draw(canvas, candles, opts)
// candles = [{t, o, h, l, c}] oldest first (t: open time, ms); opts.markers = [{t, price, side}] are the
// bot's fills (buy: green triangle below the price, sell: red triangle above), opts.frameMs the candle
// length (default one minute), opts.label(p) formats the axis prices; opts.lines = [{key, color,
// points: [{t, v}]}] are drawn over the candles (a point at candle t), opts.levels = [{key, price, color,
// dash}] as horizontal lines across the chart. Draws at the canvas's CSS size and device pixel ratio and
// returns what it drew: {lines: {key: points drawn}, levels: {key: y in CSS px}}.
// CandleChart.pane(canvas, candles, pane, opts) draws a separate indicator pane (e.g. RSI) on the same
// time axis: pane = {min, max, points: [{t, v}], levels: [{key, value}]}; returns {points, levels}.
(function () {
  "use strict";
  function draw(canvas, candles, opts) {
    if (!canvas) return;
    opts = opts || {};
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    if (!candles.length) return;
    const frame = opts.frameMs || 60000;
    const first = candles[0].t, last = candles[candles.length - 1].t + frame;
    const markers = (opts.markers || []).filter((m) => m.t >= first && m.t < last && isFinite(m.price));
    const lines = opts.lines || [], levels = (opts.levels || []).filter((l) => isFinite(l.price));
    const index = new Map(candles.map((c, i) => [c.t, i]));
    const prices = candles.flatMap((c) => [c.l, c.h]).concat(markers.map((m) => m.price))
      .concat(levels.map((l) => l.price))
      .concat(lines.flatMap((l) => l.points.filter((p) => index.has(p.t)).map((p) => p.v)));
    const lo = Math.min(...prices), hi = Math.max(...prices);
    const pad = (hi - lo) * 0.08 || hi * 0.001 || 1;
    const y = (p) => h - 20 - ((p - (lo - pad)) / (hi - lo + 2 * pad)) * (h - 30);
    const step = (w - 60) / Math.max(candles.length, 30);
    const drawn = { lines: {}, levels: {} };
    const label = opts.label || ((p) => p.toPrecision(6));
    g.fillStyle = "#8b98a5"; g.font = "11px sans-serif";
    [hi, (hi + lo) / 2, lo].forEach((p) => g.fillText(label(p), w - 56, y(p) + 4));
    const xOf = (i) => 4 + i * step + step / 2;
    candles.forEach((c, i) => {
      const x = xOf(i);
      const color = c.c >= c.o ? "#3fb950" : "#f85149";
      g.strokeStyle = color; g.fillStyle = color;
      g.beginPath(); g.moveTo(x, y(c.h)); g.lineTo(x, y(c.l)); g.stroke();
      const top = y(Math.max(c.o, c.c)), bottom = y(Math.min(c.o, c.c));
      g.fillRect(x - Math.max(1, step * 0.35), top, Math.max(2, step * 0.7), Math.max(1, bottom - top));
    });
    levels.forEach((l) => {
      const py = y(l.price);
      g.strokeStyle = l.color || "#d29922"; g.lineWidth = 1;
      g.setLineDash(l.dash || [4, 3]);
      g.beginPath(); g.moveTo(0, py); g.lineTo(w - 60, py); g.stroke();
      g.setLineDash([]);
      drawn.levels[l.key] = Math.round(py * 10) / 10;
    });
    lines.forEach((l) => {
      const pts = l.points.filter((p) => index.has(p.t) && isFinite(p.v));
      g.strokeStyle = l.color || "#58a6ff"; g.lineWidth = 1.5;
      g.beginPath();
      pts.forEach((p, k) => { const x = xOf(index.get(p.t)), py = y(p.v); if (k) g.lineTo(x, py); else g.moveTo(x, py); });
      g.stroke(); g.lineWidth = 1;
      drawn.lines[l.key] = pts.length;
    });
    markers.forEach((m) => {
      let i = candles.findIndex((c) => m.t >= c.t && m.t < c.t + frame);
      if (i < 0) i = candles.length - 1;
      const x = xOf(i), py = y(m.price), s = 6, buy = m.side === "buy";
      g.fillStyle = buy ? "#2ea043" : "#da3633"; g.strokeStyle = "#0d1117";
      g.beginPath();
      if (buy) { g.moveTo(x, py + 2); g.lineTo(x - s, py + 2 + s * 1.6); g.lineTo(x + s, py + 2 + s * 1.6); }
      else { g.moveTo(x, py - 2); g.lineTo(x - s, py - 2 - s * 1.6); g.lineTo(x + s, py - 2 - s * 1.6); }
      g.closePath(); g.fill(); g.stroke();
    });
    return drawn;
  }
  function pane(canvas, candles, p, opts) {
    if (!canvas) return null;
    opts = opts || {};
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    if (!candles.length || !p) return null;
    const index = new Map(candles.map((c, i) => [c.t, i]));
    const step = (w - 60) / Math.max(candles.length, 30);
    const xOf = (i) => 4 + i * step + step / 2;
    const lo = p.min, hi = p.max;
    const y = (v) => h - 6 - ((v - lo) / (hi - lo || 1)) * (h - 12);
    const drawn = { points: 0, levels: {} };
    g.font = "11px sans-serif";
    (p.levels || []).forEach((l) => {
      const py = y(l.value);
      g.strokeStyle = "#8b98a5"; g.setLineDash([4, 3]);
      g.beginPath(); g.moveTo(0, py); g.lineTo(w - 60, py); g.stroke(); g.setLineDash([]);
      g.fillStyle = "#8b98a5"; g.fillText(String(l.value), w - 56, py + 4);
      drawn.levels[l.key] = Math.round(py * 10) / 10;
    });
    const pts = p.points.filter((q) => index.has(q.t) && isFinite(q.v));
    g.strokeStyle = opts.color || "#a371f7"; g.lineWidth = 1.5;
    g.beginPath();
    pts.forEach((q, k) => { const x = xOf(index.get(q.t)), py = y(q.v); if (k) g.lineTo(x, py); else g.moveTo(x, py); });
    g.stroke(); g.lineWidth = 1;
    drawn.points = pts.length;
    return drawn;
  }
  window.CandleChart = { draw, pane };
})();
