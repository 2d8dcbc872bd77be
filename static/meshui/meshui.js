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

  // Form state follows the URL. htmx's history snapshots keep the page's HTML, not what was
  // typed into it, so Back would show the right table under a stale search box: after a
  // history restore, set every filter field from the query string the page is showing.
  function syncFiltersFromUrl() {
    var forms = document.querySelectorAll("form.filters");
    Array.prototype.forEach.call(forms, function (form) {
      if ((form.getAttribute("method") || "get").toLowerCase() !== "get") return;
      var params = new URLSearchParams(window.location.search);
      // Shorter names a URL may use for a field (the audit log's ?from= for date_from).
      var aliases = form.getAttribute("data-url-aliases");
      if (aliases) {
        aliases.split(",").forEach(function (pair) {
          var names = pair.split("=");
          if (params.has(names[0]) && !params.has(names[1])) params.set(names[1], params.get(names[0]));
        });
      }
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.type === "submit" || field.type === "button") return;
        if (field.type === "hidden") return; // rendered by the server with the swapped table
        var value = params.has(field.name) ? params.get(field.name) : null;
        if (field.tagName === "SELECT") {
          var wanted = value === null ? "" : value;
          var found = Array.prototype.some.call(field.options, function (option) {
            return option.value === wanted;
          });
          if (found) {
            field.value = wanted;
          } else if (value === null) {
            // No such parameter: the form's own default (per page, say).
            var initial = Array.prototype.filter.call(field.options, function (option) {
              return option.defaultSelected;
            })[0];
            field.value = initial ? initial.value : field.options.length ? field.options[0].value : "";
          }
        } else if (field.type === "checkbox" || field.type === "radio") {
          field.checked = value !== null && value === field.value;
        } else {
          field.value = value === null ? "" : value;
        }
      });
    });
  }
  document.addEventListener("htmx:historyRestore", syncFiltersFromUrl);
  // A page the browser kept in its back-forward cache shows what was typed, not its URL.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) syncFiltersFromUrl();
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
