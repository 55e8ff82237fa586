// Bot page: the market's 1m candles (GET /api/prices/candles/, what the price poller stored) drawn by the
// dashboard's CandleChart, with the bot's fills marked; new fills arrive over /ws/events/.
(function () {
  "use strict";
  const canvas = document.getElementById("price-chart");
  if (!canvas || !window.CandleChart) return;
  const note = document.getElementById("price-note");
  const data = JSON.parse(document.getElementById("equity-data").textContent);
  const fmt = data.fmt || {};
  const markers = JSON.parse(document.getElementById("fill-markers").textContent)
    .map((m) => ({ t: m.t, price: Number(m.price), side: m.side }));
  const label = (p) => (fmt.price_places === null || fmt.price_places === undefined ? p.toPrecision(6)
    : p.toFixed(fmt.price_places));
  let candles = [];
  function draw() {
    window.CandleChart.draw(canvas, candles, { markers, label });
    if (!candles.length) { note.textContent = "No candles stored for this market yet: they appear as prices are polled."; return; }
    const first = candles[0].t, end = candles[candles.length - 1].t + 60000;
    const shown = markers.filter((m) => m.t >= first && m.t < end).length;
    note.textContent = candles.length + " candles · last " + label(candles[candles.length - 1].c) + " · " +
      shown + (shown === 1 ? " fill" : " fills") + " in view";
  }
  async function load() {
    const q = new URLSearchParams({ exchange: canvas.dataset.exchange, symbol: canvas.dataset.symbol, limit: 120 });
    const r = await fetch("/api/prices/candles/?" + q, { credentials: "same-origin" });
    if (r.ok) candles = (await r.json()).map((c) => ({ t: c.t, o: +c.open, h: +c.high, l: +c.low, c: +c.close }));
    draw();
  }
  if (window.BotEvents) {
    window.BotEvents.on((msg) => {
      if (msg.type === "fill" && msg.fill.bot_id === data.bot_id) {
        markers.push({ t: Date.parse(msg.fill.ts), price: Number(msg.fill.price), side: msg.fill.side });
        load();
      }
    });
  }
  window.addEventListener("resize", draw);
  setInterval(load, 30000);
  load();
})();
