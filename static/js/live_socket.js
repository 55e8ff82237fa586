// One WebSocket to this site with reconnect backoff (1, 2, 4 … 30 s) and a countdown the page can show.
// liveSocket("/ws/prices/", {onOpen(socket, reconnected), onMessage(msg), setState(state, text)})
window.liveSocket = function (path, opts) {
  "use strict";
  const setState = opts.setState || function () {};
  let attempt = 0;
  let everOpen = false;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + location.host + path);
    socket.onopen = () => {
      attempt = 0;
      setState("live", "Live");
      if (opts.onOpen) opts.onOpen(socket, everOpen);
      everOpen = true;
    };
    socket.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      opts.onMessage(msg);
    };
    socket.onclose = () => {
      let left = Math.min(30, 2 ** attempt);
      attempt += 1;
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
  connect();
};
