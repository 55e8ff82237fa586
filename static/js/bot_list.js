// Bot list: status badges, buttons and P&L follow /ws/events/ without a reload.
(function () {
  "use strict";
  const E = window.BotEvents;
  const rows = new Map();
  document.querySelectorAll("tr[data-bot-id]").forEach((tr) => rows.set(Number(tr.dataset.botId), tr));
  const pending = new Map();

  function setCell(tr, field, text, cls) {
    const cell = tr.querySelector('[data-field="' + field + '"]');
    if (!cell) return;
    cell.textContent = text;
    if (cls !== undefined) {
      cell.classList.remove("ok", "bad");
      if (cls) cell.classList.add(cls);
    }
  }

  async function refresh(botId) {
    const tr = rows.get(botId);
    if (!tr) return;
    const r = await fetch("/api/bots/" + botId + "/performance/", { credentials: "same-origin" });
    if (!r.ok) return;
    const p = await r.json();
    const pnl = p.equity === null ? null : Number(p.equity) - Number(p.starting_balance);
    setCell(tr, "equity", E.money(p.equity, tr.dataset.moneyPlaces));
    setCell(tr, "pnl", E.signed(pnl, tr.dataset.moneyPlaces), E.pnlClass(pnl));
    setCell(tr, "return", p.return_pct === null ? "—" : E.signed(p.return_pct) + " %", E.pnlClass(p.return_pct));
  }
  function later(botId) {  // a burst of fills -> one refresh
    clearTimeout(pending.get(botId));
    pending.set(botId, setTimeout(() => refresh(botId), 300));
  }

  E.on((msg) => {
    if (msg.type === "bot" && rows.has(msg.bot.id)) {
      const tr = rows.get(msg.bot.id);
      E.badge(tr.querySelector('[data-testid="bot-status"]'), msg.bot.status, msg.bot.health);
      setCell(tr, "halt-reason", msg.bot.halt_reason || "");
      E.applyStatus(tr, msg.bot.status);
      later(msg.bot.id);
    } else if (msg.type === "fill" && rows.has(msg.fill.bot_id)) {
      const tr = rows.get(msg.fill.bot_id);
      tr.classList.remove("flash");
      void tr.offsetWidth;  // restart the highlight
      tr.classList.add("flash");
      later(msg.fill.bot_id);
    }
  });
  async function refreshStatus(botId) {
    const r = await fetch("/api/bots/" + botId + "/", { credentials: "same-origin" });
    if (!r.ok) return;
    const b = await r.json();
    const tr = rows.get(botId);
    E.badge(tr.querySelector('[data-testid="bot-status"]'), b.status, b.health);
    setCell(tr, "halt-reason", b.halt_reason || "");
    E.applyStatus(tr, b.status);
  }
  E.onReconnect(() => rows.forEach((_tr, id) => { refreshStatus(id); later(id); }));
})();
