// parity UI glue: draw the Vega-Lite charts and post admin actions to the JSON API.
(function () {
  "use strict";
  function drawCharts() {
    document.querySelectorAll("figure.chart").forEach(function (figure) {
      var target = figure.querySelector(".vega");
      var spec = JSON.parse(figure.querySelector("script.vega-spec").textContent);
      if (typeof vegaEmbed !== "function") { return; }
      vegaEmbed(target, spec, { actions: false, renderer: "svg" }).catch(function (err) {
        target.textContent = "Chart unavailable: " + err;
      });
    });
  }
  function wireActions() {
    document.querySelectorAll("form.admin-action").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var output = form.querySelector(".action-result");
        var message = form.querySelector("input[name=message]").value.trim();
        var body = { action: form.dataset.action, ref: form.dataset.ref, message: message };
        output.textContent = "working…";
        fetch("/api/actions", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body)
        }).then(function (response) {
          return response.json().then(function (data) { return [response.ok, data]; });
        }).then(function (result) {
          if (result[0]) {
            output.textContent = "done: " + result[1].ref + " is " + result[1].state;
            output.className = "action-result ok";
            window.setTimeout(function () { window.location.reload(); }, 600);
          } else {
            output.textContent = "refused: " + result[1].error.message;
            output.className = "action-result error";
          }
        }).catch(function (err) {
          output.textContent = "failed: " + err;
          output.className = "action-result error";
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); wireActions(); });
})();
