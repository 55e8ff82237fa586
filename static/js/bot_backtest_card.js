// "Backtest these settings" card (templates/trading/_bot_backtest.html): POSTs the range to
// /api/bots/<id>/backtest/ with the session (CSRF header from the cookie), then shows the stats, the
// trades and the equity curve drawn on a <canvas>. Everything from the server is inserted as text.
(function () {
  "use strict";
  const card = document.getElementById("backtest-card");
  if (!card) return;
  const $ = (id) => document.getElementById(id);
  const form = $("backtest-form"), runBtn = $("bt-run"), statusEl = $("bt-status"), errorEl = $("bt-error");
  const results = $("bt-results"), canvas = $("bt-chart"), note = $("bt-note"), tbody = $("bt-trades");
  const MAX_ROWS = 200;
  let last = null;

  const fmt = (digits) => new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const f2 = fmt(2), f4 = fmt(4);
  const num = (s, f) => (s === null || s === undefined ? "—" : f.format(Number(s)));
  const price = (s) => (s === null || s === undefined ? "—" : Number(s).toPrecision(8).replace(/\.?0+$/, ""));
  const signed = (s, f) => {
    if (s === null || s === undefined) return "—";
    const v = Number(s);
    return (v > 0 ? "+" : v < 0 ? "-" : "") + f.format(Math.abs(v));
  };
  const cls = (s) => (s === null || Number(s) === 0 ? "" : Number(s) > 0 ? "ok" : "bad");
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1") : "—");

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setState(state, text) {
    card.dataset.state = state; // idle | running | done | error (tests and styles can rely on it)
    statusEl.textContent = text || "";
    runBtn.disabled = state === "running";
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    setState("error", "");
  }

  function put(name, text, klass) {
    card.querySelectorAll('[data-bt="' + name + '"]').forEach((el) => {
      el.textContent = text;
      if (klass !== undefined) el.className = "value " + klass;
    });
  }

  function cell(row, text, klass) {
    const td = document.createElement("td");
    td.textContent = text;
    if (klass) td.className = klass;
    row.appendChild(td);
  }

  function renderTrades(r) {
    tbody.replaceChildren();
    const all = r.trades.concat(r.open_trades.map((t) => Object.assign({ open: true }, t)));
    const shown = all.slice(-MAX_ROWS);
    shown.forEach((t) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "bt-card-trade";
      cell(tr, when(t.entry_time));
      cell(tr, price(t.entry_price), "num");
      cell(tr, t.open ? "open" : when(t.exit_time), t.open ? "muted" : "");
      cell(tr, price(t.exit_price), "num");
      cell(tr, price(t.amount), "num");
      cell(tr, num(t.fee, f4), "num");
      cell(tr, signed(t.pnl, f2), "num " + cls(t.pnl));
      cell(tr, signed(t.return_pct, f2) + " %", "num " + cls(t.return_pct));
      tbody.appendChild(tr);
    });
    if (!all.length) {
      const tr = document.createElement("tr");
      const refused = Object.values(r.rejects || {}).reduce((a, b) => a + b, 0);
      cell(tr, refused
        ? "No trades in this window: the strategy wanted to trade, but every order was refused (" + refused +
          " refused, reasons below)."
        : "No trades in this window: the strategy never signalled.", "muted");
      tr.firstChild.colSpan = 8;
      tbody.appendChild(tr);
    } else if (all.length > shown.length) {
      const tr = document.createElement("tr");
      cell(tr, "Showing the last " + shown.length + " of " + all.length + " trades.", "muted");
      tr.firstChild.colSpan = 8;
      tbody.appendChild(tr);
    }
  }

  function draw() {
    if (!last) return;
    const r = last, pts = r.equity_curve.map((p) => ({ t: p.ts_ms, v: Number(p.equity) }));
    const start = Number(r.starting_balance);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600, h = canvas.clientHeight || 240;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    if (pts.length < 2) return;
    const values = pts.map((p) => p.v).concat([start]);
    const lo = Math.min(...values), hi = Math.max(...values);
    const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.001 || 1;
    const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
    const left = 8, right = w - 78, top = 10, bottom = h - 22;
    const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (right - left);
    const y = (v) => bottom - ((v - (lo - pad)) / (hi - lo + 2 * pad)) * (bottom - top);
    g.font = "11px sans-serif";
    g.fillStyle = "#8b98a5";
    [hi, (hi + lo) / 2, lo].forEach((v) => g.fillText(f2.format(v), right + 6, y(v) + 4));
    const label = (t) => new Date(t).toISOString().slice(0, 16).replace("T", " ");
    g.fillText(label(t0), left, h - 6);
    const end = label(t1);
    g.fillText(end, right - g.measureText(end).width, h - 6);
    g.strokeStyle = "#8b98a5";
    g.lineWidth = 1;
    g.setLineDash([4, 4]);
    g.beginPath(); g.moveTo(left, y(start)); g.lineTo(right, y(start)); g.stroke();
    g.setLineDash([]);
    const color = pts[pts.length - 1].v >= start ? "#3fb950" : "#f85149";
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    g.stroke();
    g.globalAlpha = 0.12;
    g.fillStyle = color;
    g.lineTo(x(t1), bottom); g.lineTo(x(t0), bottom); g.closePath(); g.fill();
    g.globalAlpha = 1;
  }

  function render(r) {
    last = r;
    results.hidden = false;
    put("quote_currency", r.quote_currency);
    put("final_equity", num(r.final_equity, f2));
    put("starting_balance", num(r.starting_balance, f2));
    put("return_pct", signed(r.return_pct, f2) + " %", cls(r.return_pct));
    put("win_rate", r.win_rate === null ? "—" : num(r.win_rate, fmt(1)) + " %");
    put("closed_trades", String(r.closed_trades));
    put("max_drawdown_pct", num(r.max_drawdown_pct, f2) + " %");
    put("fees_paid", num(r.fees_paid, f4));
    const c = r.candles;
    $("bt-range").textContent = c.count.toLocaleString("en-US") + " " + r.timeframe + " candles of " + r.symbol +
      ", " + when(c.first) + " to " + when(c.last) + " UTC · seed " + r.seed + " · " + r.fills + " fills · " +
      (r.elapsed_ms / 1000).toFixed(2) + " s";
    const halted = $("bt-halted");
    halted.hidden = !r.halted;
    halted.textContent = r.halted ? "A risk limit stopped the run at " + when(r.halted.time) + ": " + r.halted.message : "";
    const rejects = Object.entries(r.rejects).map(([code, n]) => code + " × " + n).join(", ");
    const h = r.history;
    const fetched = h ? (h.error ? " · history not fetched: " + h.error
      : h.fetched ? " · " + h.fetched.toLocaleString("en-US") + (h.fetched === 1 ? " candle" : " candles") + " fetched from the exchange" : "") : "";
    note.textContent = r.equity_points.toLocaleString("en-US") + " equity points" + fetched +
      (r.equity_curve.length < r.equity_points ? " (" + r.equity_curve.length + " drawn)" : "") +
      (rejects ? " · refused orders: " + rejects : "");
    renderTrades(r);
    draw();
    setState("done", "Done.");
  }

  // fetch: the window's missing candles come from the exchange first (stored once), with progress below
  function payload() {
    const body = { timeframe: form.elements.timeframe.value, fetch: true };
    ["start", "end"].forEach((name) => {
      const v = form.elements[name].value; // "YYYY-MM-DDTHH:MM" in UTC by the labels
      if (v) body[name] = v + (v.length === 16 ? ":00" : "") + "Z";
    });
    return body;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorEl.hidden = true;
    setState("running", "Running…");
    const poll = setInterval(async () => {  // progress while the history is fetched
      try {
        const p = await (await fetch(card.dataset.url + "progress/", { credentials: "same-origin" })).json();
        if (card.dataset.state !== "running") return;
        if (p.state === "fetching") {
          statusEl.textContent = p.total ? "Fetching history from the exchange: " + p.done.toLocaleString("en-US") +
            " of " + p.total.toLocaleString("en-US") + " candles…" : "Fetching history from the exchange…";
        } else if (p.state === "running") statusEl.textContent = "Running the backtest…";
      } catch (e) { /* progress is best effort */ }
    }, 500);
    let response;
    try {
      response = await fetch(card.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(payload()),
      });
    } catch (e) {
      clearInterval(poll);
      showError("Could not reach the server. Check the connection and try again.");
      return;
    }
    clearInterval(poll);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const msg = data && data.error ? data.error.message : "The backtest failed (HTTP " + response.status + ").";
      showError(msg);
      return;
    }
    render(data);
  });

  window.addEventListener("resize", draw);
  setState("idle", "");
})();
