// Dashboard portfolio: bot statuses, equities and the totals per quote currency follow /ws/events/.
(function () {
  "use strict";
  const E = window.BotEvents;
  const bots = JSON.parse(document.getElementById("portfolio-data").textContent);  // id -> {equity, status, ...}
  const pending = new Map();

  function row(id) { return document.querySelector('[data-testid="portfolio-row"][data-bot-id="' + id + '"]'); }
  function setText(el, text, cls) {
    if (!el) return;
    el.textContent = text;
    if (cls !== undefined) { el.classList.remove("ok", "bad"); if (cls) el.classList.add(cls); }
  }
  function totals() {
    const sums = {};
    Object.values(bots).forEach((b) => {
      if (b.equity === null) return;
      const t = (sums[b.currency] = sums[b.currency] || { equity: 0, start: 0 });
      t.equity += Number(b.equity);
      t.start += Number(b.starting_balance);
    });
    document.querySelectorAll("[data-currency]").forEach((box) => {
      const t = sums[box.dataset.currency];
      if (!t) return;
      const pnl = t.equity - t.start;
      setText(box.querySelector('[data-field="total-equity"]'), E.money(t.equity, box.dataset.moneyPlaces));
      setText(box.querySelector('[data-field="total-pnl"]'), E.signed(pnl, box.dataset.moneyPlaces) + " " + box.dataset.currency, E.pnlClass(pnl));
    });
    const running = Object.values(bots).filter((b) => (b.health || b.status) === "running").length;
    setText(document.querySelector('[data-field="running"]'), running + " / " + Object.keys(bots).length);
  }
  async function refresh(id) {
    const r = await fetch("/api/bots/" + id + "/performance/", { credentials: "same-origin" });
    if (!r.ok) return;
    const p = await r.json();
    bots[id].equity = p.equity;
    const tr = row(id);
    if (tr) {
      const pnl = p.equity === null ? null : Number(p.equity) - Number(p.starting_balance);
      setText(tr.querySelector('[data-field="equity"]'), E.money(p.equity, tr.dataset.moneyPlaces));
      setText(tr.querySelector('[data-field="pnl"]'), E.signed(pnl, tr.dataset.moneyPlaces), E.pnlClass(pnl));
    }
    totals();
  }
  function later(id) {
    clearTimeout(pending.get(id));
    pending.set(id, setTimeout(() => refresh(id), 300));
  }

  E.on((msg) => {
    if (msg.type === "bot" && bots[msg.bot.id]) {
      bots[msg.bot.id].status = msg.bot.status;
      if (msg.bot.health) bots[msg.bot.id].health = msg.bot.health.state;
      const tr = row(msg.bot.id);
      if (tr) E.badge(tr.querySelector('[data-field="status"]'), msg.bot.status, msg.bot.health);
      totals();
      later(msg.bot.id);
    } else if (msg.type === "fill" && bots[msg.fill.bot_id]) {
      later(msg.fill.bot_id);
    }
  });
  E.onReconnect(() => Object.keys(bots).forEach(later));
})();
