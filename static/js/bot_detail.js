// Bot detail: equity chart (bot_chart.js), and live trades, open orders, status and stats from /ws/events/.
(function () {
  "use strict";
  const E = window.BotEvents;
  const data = JSON.parse(document.getElementById("equity-data").textContent);
  const botId = data.bot_id;
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
    setStat("equity", E.money(p.equity));
    setStat("return_pct", p.return_pct === null ? "—" : E.signed(p.return_pct) + " %", E.pnlClass(p.return_pct));
    setStat("win_rate", p.win_rate === null ? "—" : E.num(p.win_rate, 1) + " %");
    setStat("closed_trades", String(p.closed_trades));
    setStat("max_drawdown_pct", E.num(p.max_drawdown_pct, 2) + " %");
    setStat("fees_paid", E.num(p.fees_paid, 4));
    const pos = p.position;
    setStat("realized_pnl", E.signed(pos.realized_pnl), E.pnlClass(pos.realized_pnl));
    setStat("unrealized_pnl", E.signed(pos.unrealized_pnl), E.pnlClass(pos.unrealized_pnl));
    setStat("cash", E.money(pos.quote));
    setStat("position_base", E.num(pos.base, 8));
    setStat("avg_entry", pos.average_entry_price === null ? "" : "@ " + E.num(pos.average_entry_price, 2));
    if (p.equity_curve.length) {
      chart.points = p.equity_curve.map((q) => ({ t: Date.parse(q.ts), v: Number(q.equity) }));
      chart.draw();
    }
  }
  let pending = null;
  function later() { clearTimeout(pending); pending = setTimeout(refresh, 300); }
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

  function addTrade(f) {
    if (tradesBody.querySelector('[data-fill-id="' + f.id + '"]')) return;
    const tr = document.createElement("tr");
    tr.setAttribute("data-testid", "trade-row");
    tr.dataset.fillId = f.id;
    tr.className = "flash";
    tr.append(cell(when(f.ts)), cell(f.side, "side " + f.side), cell(E.num(f.price, 8), "num"),
      cell(E.num(f.amount, 8), "num"), cell(E.money(Number(f.price) * Number(f.amount)), "num"),
      cell(E.num(f.fee, 8) + " " + f.fee_currency, "num"), cell(f.liquidity));
    tradesBody.prepend(tr);
    const count = Number(countEl.dataset.count || 0) + 1;
    countEl.dataset.count = count;
    countEl.firstChild.textContent = countEl.firstChild.textContent.replace(/^\d+/, String(count));
    toggleEmpty(tradesBody);
  }

  const OPEN = ["new", "open", "partially_filled"];
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
      for (let i = 0; i < 8; i++) tr.append(document.createElement("td"));
      const form = document.createElement("form");
      form.method = "post";
      form.className = "inline";
      form.action = "/bots/" + botId + "/orders/" + o.id + "/cancel/";
      form.innerHTML = '<input type="hidden" name="csrfmiddlewaretoken"><input type="hidden" name="next">' +
        '<button type="submit" class="small danger">Cancel</button>';
      form.elements.csrfmiddlewaretoken.value = E.csrfToken();
      form.elements.next.value = location.pathname;
      tr.lastChild.className = "actions";
      tr.lastChild.append(form);
      ordersBody.prepend(tr);
    }
    const cells = tr.children;
    cells[0].textContent = when(o.created_at);
    cells[1].textContent = o.side; cells[1].className = "side " + o.side;
    cells[2].textContent = o.type;
    [[3, o.price], [4, o.amount], [5, o.filled]].forEach(([i, v]) => { cells[i].textContent = E.num(v, 8); cells[i].className = "num"; });
    cells[6].textContent = o.status;
    toggleEmpty(ordersBody);
  }

  function applyBot(b) {
    E.badge(document.getElementById("bot-status"), b.status);
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
