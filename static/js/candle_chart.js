// The candle chart the dashboard draws, shared with the bot page: CandleChart.draw(canvas, candles, opts)
// candles = [{t, o, h, l, c}] oldest first (t: open time, ms); opts.markers = [{t, price, side}] are the
// bot's fills (buy: green triangle below the price, sell: red triangle above), opts.frameMs the candle
// length (default one minute), opts.label(p) formats the axis prices. Returns nothing; draws at the
// canvas's CSS size and device pixel ratio.
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
    const prices = candles.flatMap((c) => [c.l, c.h]).concat(markers.map((m) => m.price));
    const lo = Math.min(...prices), hi = Math.max(...prices);
    const pad = (hi - lo) * 0.08 || hi * 0.001 || 1;
    const y = (p) => h - 20 - ((p - (lo - pad)) / (hi - lo + 2 * pad)) * (h - 30);
    const step = (w - 60) / Math.max(candles.length, 30);
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
  }
  window.CandleChart = { draw };
})();
