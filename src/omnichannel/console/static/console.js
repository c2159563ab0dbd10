/* Console page behaviour: the dashboard's charts, and telling people when an HTMX call failed. */
(function () {
  "use strict";

  var PALETTE = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df", "#0a7ea4", "#bc4c00",
    "#57606a", "#e16f24", "#116329", "#953800", "#6639ba", "#1b7c83", "#a40e26"];

  function charts() {
    var holder = document.getElementById("dashboard-data");
    if (!holder || !window.Chart) return;
    var f = JSON.parse(holder.textContent);
    var channels = Object.keys(f.events).sort();
    var days = f.days.map(function (d) { return d.slice(5); });
    var common = { responsive: true, maintainAspectRatio: false, animation: false };
    // Counts: an axis that starts above zero makes 21 look like twice 20.
    var fromZero = { y: { beginAtZero: true } };
    new Chart(document.getElementById("chart-events"), {
      type: "bar",
      data: { labels: days, datasets: channels.map(function (c, i) {
        return { label: c, data: f.events[c], backgroundColor: PALETTE[i % PALETTE.length] };
      }) },
      options: Object.assign({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }, common),
    });
    var active = Object.keys(f.active).sort(function (a, b) { return f.active[b] - f.active[a]; });
    new Chart(document.getElementById("chart-active"), {
      type: "bar",
      data: { labels: active, datasets: [{ label: "customers", data: active.map(function (c) { return f.active[c]; }),
        backgroundColor: active.map(function (c) { return PALETTE[channels.indexOf(c) % PALETTE.length]; }) }] },
      options: Object.assign({ indexAxis: "y", plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true } } }, common),
    });
    new Chart(document.getElementById("chart-new"), {
      type: "line",
      data: { labels: days, datasets: [
        { label: "new", data: f.new, borderColor: PALETTE[1], backgroundColor: PALETTE[1] },
        { label: "returning", data: f.returning, borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
      ] },
      options: Object.assign({ scales: fromZero }, common),
    });
    new Chart(document.getElementById("chart-identities"), {
      type: "bar",
      data: { labels: days, datasets: [{ label: "identifiers first seen", data: f.identities, backgroundColor: PALETTE[4] }] },
      options: Object.assign({ plugins: { legend: { display: false } }, scales: fromZero }, common),
    });
  }

  document.addEventListener("DOMContentLoaded", charts);
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    window.alert(status === 403 ? "Not allowed, or the page is stale: reload it." : "That did not work (" + status + ").");
  });
})();
