// Live bot events for the bot pages: /ws/events/ (fills, order updates, status changes) with a
// reconnect backoff, plus the small formatting helpers the pages share. Loaded before bot_list.js /
// bot_detail.js, which register handlers with BotEvents.on(fn).
window.BotEvents = (function () {
  "use strict";
  const handlers = [];
  const reconnectHandlers = [];
  const conn = document.querySelector("[data-events-conn]");  // a page may show no indicator for this socket
  function setState(state, text) {
    if (!conn) return;
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function connect() {
    window.liveSocket("/ws/events/", {
      setState,
      // events sent while we were away are not replayed: the pages re-read what they show
      onOpen(_socket, reconnected) {
        if (reconnected) reconnectHandlers.forEach((h) => h());
      },
      onMessage(msg) {
        handlers.forEach((h) => {
          try { h(msg); } catch (e) { console.error(e); }
        });
      },
    });
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
  // The badge says what the bot is really doing: its health (running, warming up, blocked, stale prices,
  // idle) when the server sent one, else its status.
  function badge(el, status, health) {
    if (!el) return;
    el.className = "status-badge " + (health ? health.state : status);
    el.textContent = health ? health.label : status;
    el.dataset.health = health ? health.state : status;
    el.title = health ? health.detail || "" : "";
  }

  // Decimal strings from the server, rounded on their digits (half to even, like the templates' filters):
  // no float noise in money or amounts.
  function round(v, places) {
    let s = String(v).trim();
    const neg = s.startsWith("-");
    if (neg || s.startsWith("+")) s = s.slice(1);
    if (!/^\d*\.?\d*$/.test(s) || s === "" || s === ".") {  // not a plain decimal (exponent...): best effort
      return Number(v).toFixed(places);
    }
    let [ip, fp = ""] = s.split(".");
    ip = ip.replace(/^0+(?=\d)/, "") || "0";
    if (fp.length <= places) {
      fp = fp.padEnd(places, "0");
    } else {
      const keep = fp.slice(0, places), rest = fp.slice(places);
      const digits = (ip + keep).split("").map(Number);
      const last = digits.length ? digits[digits.length - 1] : 0;
      const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || last % 2 === 1));
      if (up) {
        let i = digits.length - 1;
        while (i >= 0 && digits[i] === 9) { digits[i] = 0; i -= 1; }
        if (i < 0) digits.unshift(1); else digits[i] += 1;
      }
      const joined = digits.join("");
      ip = joined.slice(0, joined.length - places) || "0";
      fp = joined.slice(joined.length - places);
    }
    const out = places ? ip + "." + fp : ip;
    return neg && /[1-9]/.test(out) ? "-" + out : out;
  }
  function group(fixed) {
    const neg = fixed.startsWith("-");
    const [ip, fp] = (neg ? fixed.slice(1) : fixed).split(".");
    const g = ip.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + g + (fp !== undefined ? "." + fp : "");
  }
  const blank = (v) => v === null || v === undefined || v === "";
  function num(v, places) {
    if (blank(v)) return "—";
    let s = places === undefined ? String(v) : round(v, places);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }
  // money at the quote currency's decimals (data-money-places / fmt.money_places; 2 when not given)
  const placesOr = (p, d) => (p === undefined || p === null || p === "" || isNaN(Number(p)) ? d : Number(p));
  function money(v, places) { return blank(v) ? "—" : group(round(v, placesOr(places, 2))); }
  function signed(v, places) {
    if (blank(v)) return "—";
    const text = group(round(v, placesOr(places, 2)));
    return text.startsWith("-") || !/[1-9]/.test(text) ? text : "+" + text;
  }
  // prices and amounts at the market's precision (fixed decimals), or at most 8 decimals when unknown
  function fixed(v, places) {
    if (blank(v)) return "—";
    if (placesOr(places, null) === null) return num(v, 8);
    const out = round(v, Number(places));
    return /^-[0.]*$/.test(out) ? out.slice(1) : out;
  }
  function pnlClass(v) {
    const n = Number(v);
    return blank(v) || !n ? "" : n > 0 ? "ok" : "bad";
  }
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  connect();
  return {
    on: (fn) => handlers.push(fn),
    onReconnect: (fn) => reconnectHandlers.push(fn),
    applyStatus, badge, num, money, signed, fixed, pnlClass, csrfToken,
  };
})();
