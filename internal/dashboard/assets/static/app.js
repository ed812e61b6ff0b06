// debfleet dashboard: follows the server's event stream and swaps in the
// sections it sends. The server renders and escapes everything; this file
// only moves its markup into place and copies commands. No inline script:
// the Content-Security-Policy allows scripts from this server's files only.
"use strict";

(function () {
  var pending = {}; // section id -> markup held while the user selects in it

  function status(text, ok) {
    var el = document.getElementById("live");
    if (!el) return;
    el.textContent = text;
    el.className = "live " + (ok ? "ok" : "down");
  }

  // selecting reports whether the user has text selected inside el: an
  // update then waits, so that a command being copied by hand stays put.
  function selecting(el) {
    var sel = window.getSelection();
    return sel && !sel.isCollapsed && sel.rangeCount > 0 && el.contains(sel.getRangeAt(0).commonAncestorContainer);
  }

  // replace swaps el's content for html, keeping the keyboard focus on
  // the element with the same id when there is one.
  function replace(el, html) {
    var active = document.activeElement;
    var focusId = active && el.contains(active) ? active.id : "";
    el.innerHTML = html;
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) again.focus();
    }
  }

  function applyChannel(id, html) {
    var slot = document.getElementById(id + "-slot");
    if (!slot) return;
    if (selecting(slot)) {
      pending[id] = html;
      return;
    }
    delete pending[id];
    replace(slot, html);
    // The list of channels at the top follows the section's state.
    var section = document.getElementById(id), badge = document.getElementById(id + "-badge");
    if (section && badge) {
      badge.textContent = section.dataset.state;
      badge.className = "badge " + section.dataset.state;
    }
  }

  document.addEventListener("selectionchange", function () {
    Object.keys(pending).forEach(function (id) {
      applyChannel(id, pending[id]);
    });
  });

  function connect() {
    var es = new EventSource("/events");
    es.addEventListener("open", function () { status("live", true); });
    es.addEventListener("error", function () { status("disconnected: retrying", false); });
    es.addEventListener("page", function (e) {
      pending = {};
      replace(document.getElementById("main"), JSON.parse(e.data).html);
      document.body.dataset.updated = String(Date.now());
    });
    es.addEventListener("channel", function (e) {
      var ev = JSON.parse(e.data);
      applyChannel(ev.id, ev.html);
      document.body.dataset.updated = String(Date.now());
    });
  }

  function copy(button) {
    var code = document.getElementById(button.dataset.copy);
    if (!code) return;
    var text = code.textContent;
    var done = function () { button.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(code); });
    } else {
      select(code);
    }
  }

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button.copy");
    if (b) copy(b);
  });

  if (window.EventSource) connect(); else status("reload to refresh (no EventSource)", false);
})();
