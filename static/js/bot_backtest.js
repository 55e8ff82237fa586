// Backtest page: chart the result's equity curve (bot_chart.js).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("equity-data").textContent);
  window.EquityChart.mount(document.getElementById("equity-chart"), data, document.getElementById("equity-note"));
})();
