// Live bot events for the bot pages: /ws/events/ (fills, order updates, status changes) with a
// reconnect backoff, plus the small formatting helpers the pages share. Loaded before bot_list.js /
// bot_detail.js, which register handlers with BotEvents.on(fn).
window.BotEvents = (function () {
  "use strict";
  const handlers = [];
  const reconnectHandlers = [];
  const conn = document.querySelector("[data-events-conn]");  // a page may show no indicator for this socket
  let attempt = 0;
  let everOpen = false;

  function setState(state, text) {
    if (!conn) return;
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + location.host + "/ws/events/");
    socket.onopen = () => {
      attempt = 0;
      setState("live", "Live");
      // events sent while we were away are not replayed: the pages re-read what they show
      if (everOpen) reconnectHandlers.forEach((h) => h());
      everOpen = true;
    };
    socket.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handlers.forEach((h) => {
        try { h(msg); } catch (e) { console.error(e); }
      });
    };
    socket.onclose = () => {
      const delay = Math.min(30, 2 ** attempt);
      attempt += 1;
      let left = delay;
      setState("reconnecting", "Reconnecting in " + left + " s");
      const timer = setInterval(() => {
        left -= 1;
        if (left > 0) { setState("reconnecting", "Reconnecting in " + left + " s"); return; }
        clearInterval(timer);
        setState("connecting", "Connecting…");
        connect();
      }, 1000);
    };
  }

  // Which buttons each status allows (the server enforces the same in trading.services.bots).
  const ALLOWED = { running: ["pause", "stop"], paused: ["start", "stop"], stopped: ["start"], halted: ["start", "stop"] };
  function applyStatus(root, status) {
    root.querySelectorAll("[data-bot-actions]").forEach((box) => {
      box.dataset.status = status;
      box.querySelectorAll("button[data-action]").forEach((b) => {
        b.disabled = !(ALLOWED[status] || []).includes(b.dataset.action);
        if (b.dataset.action === "start") b.textContent = status === "paused" ? "Resume" : "Start";
      });
    });
  }
  function badge(el, status) {
    if (!el) return;
    el.className = "status-badge " + status;
    el.textContent = status;
  }

  // Decimal strings from the server, shown like the templates' filters do (no float noise).
  function num(v, places) {
    if (v === null || v === undefined || v === "") return "—";
    let s = String(v);
    const dot = s.indexOf(".");
    if (places !== undefined && dot >= 0 && s.length - dot - 1 > places) s = Number(s).toFixed(places);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }
  const fmt2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function money(v) { return v === null || v === undefined || v === "" ? "—" : fmt2.format(Number(v)); }
  function signed(v) {
    if (v === null || v === undefined || v === "") return "—";
    const n = Number(v);
    const text = fmt2.format(Math.abs(n));
    if (text === "0.00") return "0.00";
    return (n > 0 ? "+" : "-") + text;
  }
  function pnlClass(v) {
    const n = Number(v);
    return v === null || v === undefined || !n ? "" : n > 0 ? "ok" : "bad";
  }
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  connect();
  return {
    on: (fn) => handlers.push(fn),
    onReconnect: (fn) => reconnectHandlers.push(fn),
    applyStatus, badge, num, money, signed, pnlClass, csrfToken,
  };
})();
