// Bot detail: equity chart (bot_chart.js), and live trades, open orders, status and stats from /ws/events/.
(function () {
  "use strict";
  const E = window.BotEvents;
  const data = JSON.parse(document.getElementById("equity-data").textContent);
  const botId = data.bot_id;
  const fmt = data.fmt || {};  // the market's precision: price_places, amount_places, money_places
  const M = (v) => E.money(v, fmt.money_places), S = (v) => E.signed(v, fmt.money_places);
  const P = (v) => E.fixed(v, fmt.price_places), A = (v) => E.fixed(v, fmt.amount_places);
  const chart = window.EquityChart.mount(document.getElementById("equity-chart"), data,
    document.getElementById("equity-note"));

  // ---- stats (re-read from the API after fills and status changes) ------------------------
  function setStat(name, text, cls) {
    document.querySelectorAll('[data-stat="' + name + '"]').forEach((el) => {
      el.textContent = text;
      if (cls !== undefined) { el.classList.remove("ok", "bad"); if (cls) el.classList.add(cls); }
    });
  }
  async function refresh() {
    const r = await fetch("/api/bots/" + botId + "/performance/", { credentials: "same-origin" });
    if (!r.ok) return;
    const p = await r.json();
    setStat("equity", M(p.equity));
    setStat("return_pct", p.return_pct === null ? "—" : E.signed(p.return_pct) + " %", E.pnlClass(p.return_pct));
    setStat("win_rate", p.win_rate === null ? "—" : E.num(p.win_rate, 1) + " %");
    setStat("closed_trades", String(p.closed_trades));
    setStat("max_drawdown_pct", E.num(p.max_drawdown_pct, 2) + " %");
    setStat("fees_paid", E.num(p.fees_paid, fmt.money_places === undefined ? 4 : fmt.money_places));
    const pos = p.position;
    setStat("realized_pnl", S(pos.realized_pnl), E.pnlClass(pos.realized_pnl));
    setStat("unrealized_pnl", S(pos.unrealized_pnl), E.pnlClass(pos.unrealized_pnl));
    setStat("cash", M(pos.quote));
    setStat("position_base", A(pos.base));
    setStat("avg_entry", pos.average_entry_price === null ? "" : "@ " + P(pos.average_entry_price));
    if (p.equity_curve.length) {
      chart.points = p.equity_curve.map((q) => ({ t: Date.parse(q.ts), v: Number(q.equity) }));
      chart.draw();
    }
  }
  // ---- open position and closed trades (re-read from the API after fills) -----------------
  function duration(secs) {
    if (secs === null || secs === undefined) return "—";
    const s = Math.max(0, Math.floor(secs)), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
      m = Math.floor((s % 3600) / 60);
    if (d) return h ? d + " d " + h + " h" : d + " d";
    if (h) return m ? h + " h " + m + " min" : h + " h";
    return m ? m + " min" : s + " s";
  }
  const minute = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "—");
  function labelled(label, text, cls, field) {
    const td = cell(text, cls);
    td.dataset.label = label;
    if (field) td.dataset.field = field;
    return td;
  }
  function pnlCell(label, pnl, pct, field) {
    return labelled(label, S(pnl) + (pct === null || pct === undefined ? "" : " (" + E.signed(pct) + " %)"),
      "num " + E.pnlClass(pnl), field);
  }
  async function refreshDeals() {
    const r = await fetch("/api/bots/" + botId + "/deals/?limit=50", { credentials: "same-origin" });
    if (!r.ok) return;
    const d = await r.json();
    const posBody = document.getElementById("position");
    if (posBody) {
      posBody.querySelectorAll("tr:not(.empty-row)").forEach((tr) => tr.remove());
      const op = d.open_position;
      if (op) {
        const tr = document.createElement("tr");
        tr.setAttribute("data-testid", "position-row");
        tr.append(labelled("Opened", minute(op.opened_at)), labelled("Size", A(op.amount), "num", "amount"),
          labelled("Entry", P(op.entry_price), "num", "entry"), labelled("Last", P(op.last_price), "num", "last"),
          pnlCell("Unrealized", op.unrealized_pnl, op.unrealized_pct, "unrealized"),
          labelled("Duration", duration(op.duration_seconds), "num", "duration"));
        posBody.prepend(tr);
      }
      toggleEmpty(posBody);
    }
    const closedBody = document.getElementById("closed-trades");
    if (closedBody) {
      closedBody.querySelectorAll("tr:not(.empty-row)").forEach((tr) => tr.remove());
      const empty = closedBody.querySelector(".empty-row");
      d.closed_trades.forEach((t) => {
        const tr = document.createElement("tr");
        tr.setAttribute("data-testid", "closed-trade-row");
        tr.append(labelled("Entry", minute(t.entry_at)), labelled("Exit", minute(t.exit_at)),
          labelled("Size", A(t.amount), "num"), labelled("Entry price", P(t.entry_price), "num"),
          labelled("Exit price", P(t.exit_price), "num"), pnlCell("P&L", t.pnl, t.return_pct, "pnl"),
          labelled("Duration", duration(t.duration_seconds), "num", "duration"));
        closedBody.insertBefore(tr, empty);
      });
      toggleEmpty(closedBody);
      const count = document.getElementById("closed-count");
      if (count) count.textContent = d.closed_count + " in total" + (d.closed_count ? " · realized " + S(d.realized_pnl) + " " + (fmt.quote || "") : "");
    }
  }

  let pending = null;
  function later() { clearTimeout(pending); pending = setTimeout(() => { refresh(); refreshDeals(); }, 300); }
  setInterval(refresh, 30000);  // equity moves with the price between fills too

  // ---- live trades and orders -------------------------------------------------------------
  const tradesBody = document.getElementById("trades");
  const ordersBody = document.getElementById("orders");
  const countEl = document.getElementById("trades-count");
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function when(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }
  function toggleEmpty(body) {
    const empty = body.querySelector(".empty-row");
    if (empty) empty.hidden = body.querySelectorAll("tr:not(.empty-row)").length > 0;
  }

  // the fee as charged; a live fee in a third currency (BNB) also with its value in the quote currency
  function feeCell(f) {
    const td = cell(E.num(f.fee, 8) + " " + f.fee_currency, "num");
    td.setAttribute("data-testid", "trade-fee");
    const pair = (document.querySelector("[data-testid=trades] table") || {}).dataset || {};
    if (f.exchange_trade_id && f.fee_currency && pair.base && f.fee_currency !== pair.base && f.fee_currency !== pair.quote) {
      const extra = document.createElement("span");
      extra.className = "muted small fee-quote";
      extra.setAttribute("data-testid", "trade-fee-quote");
      extra.title = f.fee_note || "";
      extra.textContent = f.fee_quote != null ? "≈ " + E.num(f.fee_quote, 8) + " " + pair.quote : "not valued";
      td.append(extra);
    }
    return td;
  }

  function addTrade(f) {
    if (tradesBody.querySelector('[data-fill-id="' + f.id + '"]')) return;
    const tr = document.createElement("tr");
    tr.setAttribute("data-testid", "trade-row");
    tr.dataset.fillId = f.id;
    tr.className = "flash";
    const time = cell(when(f.ts));
    if (f.exchange_trade_id) {  // a live trade, marked as such (after a demotion the history mixes paper and live)
      const tag = document.createElement("span");
      tag.className = "live-badge small";
      tag.setAttribute("data-testid", "trade-live");
      tag.title = "A live trade on the exchange";
      tag.textContent = "LIVE";
      time.append(" ", tag);
    }
    tr.append(time, cell(f.side, "side " + f.side), cell(P(f.price), "num"),
      cell(A(f.amount), "num"), cell(M(Number(f.price) * Number(f.amount)), "num"),
      feeCell(f), cell(f.liquidity));
    if (tradesBody.closest("table").hasAttribute("data-exchange-ids")) {  // a live bot: the exchange's ids
      const ids = cell(f.exchange_trade_id ? "order " + f.exchange_order_id + " · trade " + f.exchange_trade_id : "paper",
        "mono wrap");
      ids.setAttribute("data-testid", "trade-exchange-ids");
      tr.append(ids);
    }
    tradesBody.prepend(tr);
    const count = Number(countEl.dataset.count || 0) + 1;
    countEl.dataset.count = count;
    countEl.firstChild.textContent = countEl.firstChild.textContent.replace(/^\d+/, String(count));
    toggleEmpty(tradesBody);
  }

  const OPEN = ["new", "open", "partially_filled"];
  const exchangeIds = ordersBody.closest("table").hasAttribute("data-exchange-ids");
  function upsertOrder(o) {
    let tr = ordersBody.querySelector('[data-order-id="' + o.id + '"]');
    if (!OPEN.includes(o.status)) {
      if (tr) tr.remove();
      toggleEmpty(ordersBody);
      return;
    }
    if (!tr) {
      tr = document.createElement("tr");
      tr.setAttribute("data-testid", "order-row");
      tr.dataset.orderId = o.id;
      const labels = ["Created", "Side", "Type", "Price", "Amount", "Filled", "Status", ""];
      if (exchangeIds) labels.splice(7, 0, "Exchange order id");
      labels.forEach((label) => {
        const td = document.createElement("td");
        if (label) td.dataset.label = label;
        tr.append(td);
      });
      const form = document.createElement("form");
      form.method = "post";
      form.className = "inline";
      form.action = "/bots/" + botId + "/orders/" + o.id + "/cancel/";
      form.innerHTML = '<input type="hidden" name="csrfmiddlewaretoken"><input type="hidden" name="next">' +
        '<button type="submit" class="small danger">Cancel</button>';
      form.elements.csrfmiddlewaretoken.value = E.csrfToken();
      form.elements.next.value = location.pathname;
      tr.lastChild.className = "actions full";
      tr.lastChild.append(form);
      ordersBody.prepend(tr);
    }
    const cells = tr.children;
    cells[0].textContent = when(o.created_at);
    cells[1].textContent = o.side; cells[1].className = "side " + o.side;
    cells[2].textContent = o.type;
    [[3, o.price, P], [4, o.amount, A], [5, o.filled, A]].forEach(([i, v, f]) => { cells[i].textContent = f(v); cells[i].className = "num"; });
    cells[6].textContent = o.status;
    if (exchangeIds) {
      cells[7].textContent = o.exchange_order_id || "— not answered yet";
      cells[7].className = "mono";
      cells[7].setAttribute("data-testid", "order-exchange-id");
    }
    toggleEmpty(ordersBody);
  }

  function applyBot(b) {
    E.badge(document.getElementById("bot-status"), b.status, b.health);
    E.applyStatus(document, b.status);
    const halt = document.getElementById("halt-reason");
    halt.hidden = !b.halt_reason;
    halt.querySelector("span").textContent = b.halt_reason || "";
  }

  E.on((msg) => {
    if (msg.type === "fill" && msg.fill.bot_id === botId) { addTrade(msg.fill); later(); }
    else if (msg.type === "order" && msg.order.bot_id === botId) upsertOrder(msg.order);
    else if (msg.type === "bot" && msg.bot.id === botId) { applyBot(msg.bot); later(); }
  });
  E.onReconnect(async () => {
    const r = await fetch("/api/bots/" + botId + "/", { credentials: "same-origin" });
    if (r.ok) applyBot(await r.json());
    refresh();
  });
})();
