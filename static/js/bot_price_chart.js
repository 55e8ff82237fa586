// Bot page: the candles the bot decides on (its timeframe) with its fills marked and its strategy's
// indicators overlaid, all from GET /api/bots/{id}/chart/ (the engine computes the indicators; this only
// draws them): SMA lines over the candles, an RSI pane under them, grid and DCA levels across the chart.
// Drawn by the dashboard's CandleChart; reloaded on every new fill or bot update over /ws/events/ and every
// 15 s. What was drawn is kept in window.BotPriceChart.drawn (for people debugging and for the tests).
(function () {
  "use strict";
  const canvas = document.getElementById("price-chart");
  if (!canvas || !window.CandleChart) return;
  const paneCanvas = document.getElementById("indicator-pane");
  const legend = document.getElementById("chart-legend");
  const note = document.getElementById("price-note");
  const data = JSON.parse(document.getElementById("equity-data").textContent);
  const fmt = data.fmt || {};
  const markers = JSON.parse(document.getElementById("fill-markers").textContent)
    .map((m) => ({ t: m.t, price: Number(m.price), side: m.side }));
  const label = (p) => (fmt.price_places === null || fmt.price_places === undefined ? p.toPrecision(6)
    : p.toFixed(fmt.price_places));
  const LINE_COLORS = { sma_fast: "#58a6ff", sma_slow: "#f0883e" };
  const LEVEL_COLORS = { grid: "#6e7681", grid_held: "#d29922", dca_base: "#58a6ff", dca_safety: "#a371f7",
    dca_safety_filled: "#3fb950", take_profit: "#3fb950" };
  const FRAMES = { "1m": 60000, "5m": 300000, "15m": 900000, "30m": 1800000, "1h": 3600000, "4h": 14400000 };
  let chart = { timeframe: "1m", candles: [], indicators: { lines: [], levels: [], pane: null } };
  const state = window.BotPriceChart = { drawn: null, chart };

  function legendItem(key, text, color) {
    const li = document.createElement("li");
    li.dataset.key = key;
    li.textContent = text;
    li.style.setProperty("--swatch", color);
    return li;
  }

  function draw() {
    const candles = chart.candles;
    const ind = chart.indicators;
    const frameMs = FRAMES[chart.timeframe] || 60000;
    const lines = ind.lines.map((l) => ({ key: l.key, color: LINE_COLORS[l.key] || "#58a6ff",
      points: l.points.map((p) => ({ t: p.t, v: Number(p.v) })) }));
    const levels = ind.levels.map((l) => ({ key: l.key, price: Number(l.price), color: LEVEL_COLORS[l.kind] || "#d29922" }));
    const drawn = window.CandleChart.draw(canvas, candles, { markers, label, frameMs, lines, levels }) || { lines: {}, levels: {} };
    let pane = null;
    if (ind.pane) {
      paneCanvas.hidden = false;
      pane = window.CandleChart.pane(paneCanvas, candles, {
        min: Number(ind.pane.min), max: Number(ind.pane.max),
        points: ind.pane.points.map((p) => ({ t: p.t, v: Number(p.v) })),
        levels: ind.pane.levels.map((l) => ({ key: l.key, value: Number(l.value) })) });
    } else {
      paneCanvas.hidden = true;
    }
    state.drawn = { lines: drawn.lines, levels: drawn.levels, pane };
    legend.replaceChildren(
      ...ind.lines.map((l) => legendItem(l.key, l.label + (l.points.length ? " " + label(Number(l.points[l.points.length - 1].v)) : ""),
        LINE_COLORS[l.key] || "#58a6ff")),
      ...(ind.pane ? [legendItem(ind.pane.key, ind.pane.label + (ind.pane.points.length
        ? " " + Number(ind.pane.points[ind.pane.points.length - 1].v).toFixed(2) : "") + " · " +
        ind.pane.levels.map((l) => l.label + " " + Number(l.value)).join(" · "), "#a371f7")] : []),
      ...ind.levels.map((l) => legendItem(l.key, l.label + " " + label(Number(l.price)), LEVEL_COLORS[l.kind] || "#d29922")));
    if (!candles.length) { note.textContent = "No candles stored for this market yet: they appear as prices are polled."; return; }
    const first = candles[0].t, end = candles[candles.length - 1].t + frameMs;
    const shown = markers.filter((m) => m.t >= first && m.t < end).length;
    note.textContent = candles.length + " candles · last " + label(candles[candles.length - 1].c) + " · " +
      shown + (shown === 1 ? " fill" : " fills") + " in view";
  }
  async function load() {
    const r = await fetch(canvas.dataset.url + "?limit=120", { credentials: "same-origin" });
    if (r.ok) {
      const body = await r.json();
      state.api = body;  // the API's answer as received (the tests compare what was drawn with it)
      chart = state.chart = { timeframe: body.timeframe, indicators: body.indicators,
        candles: body.candles.map((c) => ({ t: c.t, o: +c.open, h: +c.high, l: +c.low, c: +c.close })) };
    }
    draw();
  }
  if (window.BotEvents) {
    window.BotEvents.on((msg) => {
      if (msg.type === "fill" && msg.fill.bot_id === data.bot_id) {
        markers.push({ t: Date.parse(msg.fill.ts), price: Number(msg.fill.price), side: msg.fill.side });
        load();
      } else if (msg.type === "bot" && msg.bot.id === data.bot_id) {
        load();  // the tick evaluated it: a new candle closed, the indicators moved
      }
    });
  }
  window.addEventListener("resize", draw);
  setInterval(load, 15000);  // the forming candle moves; a closed one appears within 15 s
  load();
})();
