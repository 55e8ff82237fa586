// Dashboard: live price board and a 1-minute candle chart over /ws/prices/, no page reloads.
(function () {
  "use strict";
  const board = document.getElementById("board");
  const conn = document.getElementById("conn");
  const canvas = document.getElementById("chart");
  const note = document.getElementById("chart-note");
  const staleAfter = parseFloat(board ? board.dataset.staleAfter : "30") || 30;
  const rows = new Map(); // "exchange|symbol" -> <tr>
  document.querySelectorAll("tr[data-symbol]").forEach((tr) => rows.set(tr.dataset.exchange + "|" + tr.dataset.symbol, tr));

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // ---- connection with backoff ------------------------------------------------------
  function setState(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
  }
  function connect() {
    window.liveSocket("/ws/prices/", {
      setState,
      onOpen(socket) {
        const wanted = {};
        rows.forEach((tr) => (wanted[tr.dataset.exchange] = wanted[tr.dataset.exchange] || []).push(tr.dataset.symbol));
        const [cx, cs] = chartKey();
        if (cx && cs) (wanted[cx] = wanted[cx] || []).includes(cs) || wanted[cx].push(cs);
        Object.entries(wanted).forEach(([exchange, symbols]) =>
          socket.send(JSON.stringify({ action: "subscribe", exchange, symbols })));
      },
      onMessage(msg) {
        if (msg.type === "tick") onTick(msg);
      },
    });
  }

  // ---- the board ----------------------------------------------------------------------
  // prices at the market's precision (data-price-places on the row), as the server renders them
  function fmt(v, places) {
    if (v === null || v === undefined || v === "") return "—";
    if (places === undefined || places === "" || !isFinite(Number(v))) return String(v);
    return Number(v).toFixed(Number(places));
  }
  function onTick(t) {
    const tr = rows.get(t.exchange + "|" + t.symbol);
    if (tr) {
      const lastCell = tr.querySelector('[data-field="last"]');
      const before = parseFloat(lastCell.textContent);
      const places = tr.dataset.pricePlaces;
      tr.querySelector('[data-field="bid"]').textContent = fmt(t.bid, places);
      tr.querySelector('[data-field="ask"]').textContent = fmt(t.ask, places);
      lastCell.textContent = fmt(t.last, places);
      const now = parseFloat(t.last);
      lastCell.classList.toggle("up", now > before);
      lastCell.classList.toggle("down", now < before);
      tr.querySelector('[data-field="change"]').textContent = t.change_24h_pct === null ? "—" : t.change_24h_pct + " %";
      const age = tr.querySelector('[data-field="age"]');
      age.dataset.received = t.received_at;
      age.title = t.reason || "";
      tr.classList.toggle("stale", !!t.stale);
      renderAge(tr);
    }
    const [cx, cs] = chartKey();
    if (t.exchange === cx && t.symbol === cs && !t.stale && t.last !== null) chartTick(t);
  }
  function renderAge(tr) {
    const age = tr.querySelector('[data-field="age"]');
    const received = parseFloat(age.dataset.received);
    if (!received) return;
    const secs = Math.max(0, Date.now() / 1000 - received);
    const stale = tr.classList.contains("stale") || secs > staleAfter;
    tr.classList.toggle("stale", stale);
    age.textContent = (stale ? "stale · " : "") + (secs < 60 ? Math.round(secs) + " s ago" : Math.round(secs / 60) + " min ago");
  }
  setInterval(() => rows.forEach(renderAge), 1000);

  // ---- watchlist ----------------------------------------------------------------------
  const form = document.getElementById("watch-form");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("watch-error");
    err.textContent = "";
    const body = { exchange: form.exchange.value, symbol: form.symbol.value.trim().toUpperCase() };
    const r = await fetch("/api/watchlist/", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(body) });
    if (r.ok) { location.reload(); return; }
    const data = await r.json().catch(() => ({}));
    err.textContent = (data.error && data.error.message) || "Could not add that symbol.";
  });
  document.querySelectorAll("[data-unwatch]").forEach((b) => b.addEventListener("click", async () => {
    await fetch("/api/watchlist/" + b.dataset.unwatch + "/", { method: "DELETE", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() } });
    location.reload();
  }));

  // ---- candle chart -------------------------------------------------------------------
  let candles = [];
  function chartKey() {
    const v = canvas ? canvas.dataset.chart : "";
    const i = v.indexOf(":");
    return i < 0 ? ["", ""] : [v.slice(0, i), v.slice(i + 1)];
  }
  function chartTick(t) {
    const price = parseFloat(t.last);
    const minute = Math.floor(t.received_at / 60) * 60000;
    const lastC = candles[candles.length - 1];
    if (lastC && lastC.t === minute) {
      lastC.h = Math.max(lastC.h, price); lastC.l = Math.min(lastC.l, price); lastC.c = price;
    } else {
      candles.push({ t: minute, o: price, h: price, l: price, c: price });
      if (candles.length > 120) candles.shift();
    }
    draw();
  }
  function draw() {
    if (!canvas) return;
    if (!candles.length) {
      window.CandleChart.draw(canvas, candles);
      note.textContent = "Waiting for prices…";
      return;
    }
    note.textContent = candles.length + (candles.length === 1 ? " candle" : " candles") + " · last " + candles[candles.length - 1].c;
    window.CandleChart.draw(canvas, candles);
  }
  async function loadCandles() {
    const [ex, sym] = chartKey();
    if (!ex) return;
    const r = await fetch("/api/prices/candles/?" + new URLSearchParams({ exchange: ex, symbol: sym, limit: 120 }),
      { credentials: "same-origin" });
    if (r.ok) {
      candles = (await r.json()).map((c) => ({ t: c.t, o: +c.open, h: +c.high, l: +c.low, c: +c.close }));
    }
    draw();
  }
  window.addEventListener("resize", draw);
  loadCandles();
  connect();
})();
