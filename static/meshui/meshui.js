// meshui's own script: no inline JavaScript anywhere (the Content Security Policy forbids it).
// Pages work without it; it only makes htmx swaps kinder to keyboard and screen-reader users.
(function () {
  "use strict";

  // After a table swap started from a link (sort, page), keep keyboard focus in the table
  // instead of losing it to <body> when the clicked link is replaced.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.classList || !target.classList.contains("table-region")) return;
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;
    var region = document.getElementById(target.id);
    if (!region) return;
    region.setAttribute("tabindex", "-1");
    region.focus({ preventScroll: true });
  });

  // A failed request must not fail silently: say so in words.
  function showError(message) {
    var main = document.getElementById("page-body") || document.body;
    var banner = document.getElementById("request-error");
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "request-error";
      banner.className = "banner banner-error";
      banner.setAttribute("role", "alert");
      main.insertBefore(banner, main.firstChild);
    }
    banner.textContent = message;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    showError("The server answered " + xhr.status + " " + (xhr.statusText || "") +
      ". Reload the page to try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("meshui cannot be reached. Check your connection and reload the page.");
  });
})();
