// nnconform report: small progressive enhancements. The page is complete without them.
(function () {
  "use strict";
  var body = document.body;

  // "failures only" filter: CSS does the hiding (also without JS via :has); the class is for older browsers
  var box = document.getElementById("failures-only");
  if (box) {
    var apply = function () { body.classList.toggle("failures-only", box.checked); };
    box.addEventListener("change", apply);
    apply();
  }

  // semantics table: "only points where a backend differs" (CSS :has does it too; the class is for older browsers)
  var semBox = document.getElementById("semantics-differs-only");
  if (semBox) {
    var semApply = function () { body.classList.toggle("semantics-differs-only", semBox.checked); };
    semBox.addEventListener("change", semApply);
    semApply();
  }

  // sortable tables: click a th.sort; numbers from data-sort when present, else the cell text
  function cellValue(row, idx) {
    var cell = row.children[idx];
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  function columnIndex(th) {
    // index of the header cell among the body row's cells (first header row; rowspan headers come first)
    var idx = 0, sib = th.previousElementSibling;
    while (sib) { idx += parseInt(sib.getAttribute("colspan") || "1", 10); sib = sib.previousElementSibling; }
    return idx;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable th.sort"), function (th) {
    th.setAttribute("tabindex", "0");
    th.setAttribute("role", "button");
    var sort = function () {
      var table = th.closest("table");
      var tbody = table.tBodies[0];
      if (!tbody) { return; }
      var idx = columnIndex(th);
      var numeric = th.getAttribute("data-type") === "num";
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.querySelectorAll("th.sort"), function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var x = cellValue(a, idx), y = cellValue(b, idx), r;
        if (numeric) {
          var fx = x === "" ? NaN : parseFloat(x), fy = y === "" ? NaN : parseFloat(y);
          if (isNaN(fx) && isNaN(fy)) { r = 0; } else if (isNaN(fx)) { return 1; } else if (isNaN(fy)) { return -1; }
          else { r = fx - fy; }
        } else {
          r = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
        }
        return asc ? r : -r;
      });
      rows.forEach(function (row) { tbody.appendChild(row); });
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sort(); } });
  });

  // copy buttons next to repro commands (hidden unless JS runs; the command is readable either way)
  Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var text = btn.getAttribute("data-copy") || "";
      var done = function () { btn.textContent = "copied"; btn.classList.add("done");
        setTimeout(function () { btn.textContent = "copy"; btn.classList.remove("done"); }, 1500); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
      } else { fallback(text); done(); }
    });
  });
  function fallback(text) {
    var ta = document.createElement("textarea");
    ta.value = text; ta.setAttribute("readonly", ""); ta.style.position = "absolute"; ta.style.left = "-9999px";
    body.appendChild(ta); ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing to do */ }
    body.removeChild(ta);
  }

  // following a link to a folded details element opens it
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
