/*
 * gridlink Connect, page side of the embedded widget (pelm-api.md 4.3).
 *
 * Loaded only by pages rendered for the widget: <body data-parent-origin>
 * holds the embedding page's origin, which the server checked against the
 * client's registered origins. Messages go to exactly that origin, and only
 * messages from that origin and from the parent window are read.
 *
 * To the page (initialize.js):
 *   {source: "gridlink-connect", version: 1, type: "ready"}           on every page load
 *   {source: "gridlink-connect", version: 1, type: "success", code}   on the confirmation
 *   {source: "gridlink-connect", version: 1, type: "exit", status, metadata}
 * From the page:
 *   {source: "gridlink-connect", type: "open"}    the dialog was shown: take the focus
 *   {source: "gridlink-connect", type: "close"}   Escape pressed on the page: close as the user would
 */
(function () {
  "use strict";

  var SOURCE = "gridlink-connect";
  var parentOrigin = document.body.getAttribute("data-parent-origin");
  if (!parentOrigin || window.parent === window) {
    return;
  }
  var main = document.getElementById("main");
  var dialog = document.querySelector(".dialog") || document.body;
  var code = main.getAttribute("data-code");
  var status = main.getAttribute("data-error");
  var session = /^\/connect\/[A-Za-z0-9_-]{22}$/.test(location.pathname) ? location.pathname : "";
  var finished = false;

  function post(msg) {
    msg.source = SOURCE;
    msg.version = 1;
    window.parent.postMessage(msg, parentOrigin);
  }

  // tell sends a body-less POST to the session (same origin, with the
  // session cookie); keepalive lets it finish after the iframe is removed.
  function tell(action) {
    if (session && window.fetch) {
      fetch(session + "/" + action, { method: "POST", credentials: "same-origin", keepalive: true })
        .catch(function () {});
    }
  }

  function metadata() {
    var id = main.getAttribute("data-utility-id");
    if (!id) {
      return {};
    }
    return { utility_id: id, utility_name: main.getAttribute("data-utility-name") || "" };
  }

  // close is the x button, Escape, a click outside the dialog, and the
  // Close and Exit buttons.
  function close() {
    if (finished) {
      return;
    }
    finished = true;
    if (status) {
      post({ type: "exit", status: status, metadata: metadata() });
      return;
    }
    tell("exit"); // ends the session on the server
    post({ type: "exit", status: "user_initiated_exit", metadata: {} });
  }

  function focusable() {
    var all = dialog.querySelectorAll(
      'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])');
    var out = [];
    for (var i = 0; i < all.length; i++) {
      if (all[i].offsetWidth || all[i].offsetHeight || all[i].getClientRects().length) {
        out.push(all[i]);
      }
    }
    return out;
  }

  // focusFirst moves the focus into the dialog: autofocus does not work in
  // a cross-origin iframe, so the page does it when the widget says the
  // dialog is shown.
  function focusFirst() {
    var el = dialog.querySelector("[autofocus]");
    if (!el) {
      var inMain = main.querySelectorAll("button, input:not([type=hidden]), a[href]");
      el = inMain.length ? inMain[0] : focusable()[0];
    }
    if (el) {
      el.focus();
    }
  }

  // trap keeps Tab and Shift+Tab inside the dialog.
  function trap(e) {
    var els = focusable();
    if (!els.length) {
      e.preventDefault();
      return;
    }
    var first = els[0], last = els[els.length - 1], active = document.activeElement;
    var inside = dialog.contains(active);
    if (e.shiftKey && (active === first || !inside)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !inside)) {
      e.preventDefault();
      first.focus();
    }
  }

  document.addEventListener("click", function (e) {
    var t = e.target && e.target.closest ? e.target.closest("[data-close]") : null;
    if (t) {
      e.preventDefault();
      close();
    }
  });
  document.addEventListener("submit", function (e) {
    var action = e.target.getAttribute("action") || "";
    if (/\/exit$/.test(action)) {
      e.preventDefault();
      close();
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" || e.key === "Esc") {
      e.preventDefault();
      close();
    } else if (e.key === "Tab") {
      trap(e);
    }
  });
  window.addEventListener("message", function (e) {
    if (e.origin !== parentOrigin || e.source !== window.parent) {
      return;
    }
    var m = e.data;
    if (!m || typeof m !== "object" || m.source !== SOURCE) {
      return;
    }
    if (m.type === "open") {
      focusFirst();
    } else if (m.type === "close") {
      close();
    }
  });

  post({ type: "ready" });
  if (code) {
    // Connected: hand the code over once, then let the server forget it.
    finished = true;
    main.removeAttribute("data-code");
    post({ type: "success", code: code });
    tell("continue");
  }
})();
