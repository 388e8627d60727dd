/* Sorting and filtering for the site's tables: plain DOM code, no libraries, no network; works from file:. */
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  function keyOf(row, index, numeric) {
    var cell = row.children[index];
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (raw === "") { return null; }
    if (!numeric) { return raw.toLowerCase(); }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function sortBy(table, header) {
    var headers = Array.prototype.slice.call(header.parentNode.children);
    var index = headers.indexOf(header);
    var numeric = header.getAttribute("data-type") === "number";
    var state = header.getAttribute("aria-sort");
    var ascending;
    if (state) { ascending = state !== "ascending"; }
    else if (header.hasAttribute("data-first")) { ascending = header.getAttribute("data-first") === "ascending"; }
    else { ascending = !numeric; }
    each(headers, function (h) { h.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, key: keyOf(row, index, numeric), i: i };
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.i - b.i : (a.key === null ? 1 : -1);
      }
      var c = a.key < b.key ? -1 : (a.key > b.key ? 1 : 0);
      return c === 0 ? a.i - b.i : (ascending ? c : -c);
    });
    each(keyed, function (k) { body.appendChild(k.row); });
  }

  function applyFilters(form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    var selects = form.querySelectorAll("select[data-filter]");
    var shown = 0;
    var total = 0;
    each(table.tBodies[0].rows, function (row) {
      var visible = true;
      each(selects, function (select) {
        var wanted = select.value;
        if (wanted !== "" && row.getAttribute("data-" + select.getAttribute("data-filter")) !== wanted) {
          visible = false;
        }
      });
      row.hidden = !visible;
      total += 1;
      shown += visible ? 1 : 0;
    });
    var count = form.querySelector("[data-count]");
    if (count) { count.textContent = shown + " of " + total + " shown"; }
  }

  each(document.querySelectorAll("table.sortable"), function (table) {
    each(table.querySelectorAll("thead button.sort"), function (button) {
      button.addEventListener("click", function () { sortBy(table, button.parentNode); });
    });
  });
  each(document.querySelectorAll("form.filters"), function (form) {
    each(form.querySelectorAll("select[data-filter]"), function (select) {
      select.addEventListener("change", function () { applyFilters(form); });
    });
    var reset = form.querySelector("button[data-reset]");
    if (reset) {
      reset.addEventListener("click", function () {
        each(form.querySelectorAll("select[data-filter]"), function (select) { select.value = ""; });
        applyFilters(form);
      });
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    applyFilters(form);
  });
  document.documentElement.className += " js";
}());
