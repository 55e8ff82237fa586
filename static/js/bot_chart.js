// Equity line chart on a <canvas> (bot detail and backtest pages): the curve, green above the starting
// balance and red below, the starting balance dashed, value and time labels. No library needed.
window.EquityChart = (function () {
  "use strict";
  const fmt2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const money = (v) => fmt2.format(v);
  const signed = (v) => (v > 0 ? "+" : v < 0 ? "-" : "") + fmt2.format(Math.abs(v));

  function draw(canvas, points, start, currency, note) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    if (points.length < 2) {
      if (note) note.textContent = "The equity curve starts once the bot has run for a few ticks.";
      g.fillStyle = "#8b98a5"; g.font = "13px sans-serif";
      g.fillText("No equity history yet", 12, h / 2);
      return;
    }
    const last = points[points.length - 1].v;
    if (note) {
      note.textContent = points.length + " points · now " + money(last) + " " + currency +
        " (" + signed(((last / start) - 1) * 100) + " %)";
    }
    const values = points.map((p) => p.v).concat([start]);
    const lo = Math.min(...values), hi = Math.max(...values);
    const pad = (hi - lo) * 0.1 || hi * 0.001 || 1;
    const t0 = points[0].t, t1 = points[points.length - 1].t;
    const left = 8, right = w - 70, top = 10, bottom = h - 22;
    const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (right - left);
    const y = (v) => bottom - ((v - (lo - pad)) / (hi - lo + 2 * pad)) * (bottom - top);
    g.font = "11px sans-serif"; g.fillStyle = "#8b98a5";
    [hi, (hi + lo) / 2, lo].forEach((v) => g.fillText(money(v), right + 6, y(v) + 4));
    const when = (t) => new Date(t).toISOString().slice(5, 16).replace("T", " ");
    g.fillText(when(t0), left, h - 6);
    const endLabel = when(t1);
    g.fillText(endLabel, right - g.measureText(endLabel).width, h - 6);
    g.strokeStyle = "#8b98a5"; g.setLineDash([4, 4]); g.lineWidth = 1;
    g.beginPath(); g.moveTo(left, y(start)); g.lineTo(right, y(start)); g.stroke();
    g.setLineDash([]);
    const color = last >= start ? "#3fb950" : "#f85149";
    g.strokeStyle = color; g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    g.stroke();
    g.globalAlpha = 0.12; g.fillStyle = color;
    g.lineTo(x(t1), bottom); g.lineTo(x(t0), bottom); g.closePath(); g.fill();
    g.globalAlpha = 1;
  }

  // A chart fed from a json_script block: {"points": [{"t": ms, "equity": "..."}], "starting_balance", "currency"}
  function mount(canvas, data, note) {
    const chart = {
      points: data.points.map((p) => ({ t: p.t, v: Number(p.equity) })),
      draw: () => draw(canvas, chart.points, Number(data.starting_balance), data.currency, note),
    };
    window.addEventListener("resize", chart.draw);
    chart.draw();
    return chart;
  }
  return { draw, mount };
})();
