/*
 * gridlink Connect widget: window.PelmConnect (pelm-api.md 4.3).
 * Served as /initialize.js and /connect/pelm-connect.js. No dependencies.
 *
 *   PelmConnect.initialize({connectToken, onSuccess, onExit, onReady})
 *       prepares one hidden full-screen iframe with the Connect pages and
 *       calls onReady() once it can be opened. Safe to call on every render:
 *       the same token keeps the iframe, a new token replaces it, and an
 *       undefined or empty token is ignored.
 *   PelmConnect.open(config?)   shows Connect (config's callbacks win).
 *   PelmConnect.exit()          closes Connect: onExit('user_initiated_exit', {}).
 *   PelmConnect.create(config)  legacy: initialize, then {open, exit}.
 *
 * onSuccess(code) gets the one-time authorization code for your backend to
 * exchange; onExit(status, metadata) reports every other end.
 *
 * Messages: gridlink's origin is the origin of this script's own URL. The
 * iframe is created with this page's origin (checked by gridlink against the
 * client's registered origins) and posts {source: "gridlink-connect", type:
 * "ready" | "success" | "exit"} to this page's origin only; this script
 * accepts messages only from gridlink's origin and from its own iframe, and
 * posts {type: "open" | "close"} to gridlink's origin only.
 */
(function () {
  "use strict";

  if (window.PelmConnect && window.PelmConnect.gridlink) {
    return; // loaded twice: keep the first (and its iframe)
  }

  var SOURCE = "gridlink-connect";
  var STATUSES = ["user_initiated_exit", "unavailable_utility_credentials_submitted",
    "connect_max_attempted_logins", "connect_token_invalid", "internal_error"];

  var script = document.currentScript || findScript();
  var origin = script ? new URL(script.src, location.href).origin : "";

  var config = {};         // callbacks of the last initialize (or open with a config)
  var token = "";          // token of the current iframe ("" without one)
  var used = {};           // tokens that completed a connection
  var frame = null;        // the one iframe
  var ready = false;       // its page said it is ready
  var readyCalled = null;  // the onReady already called for this iframe
  var shown = false;
  var pending;             // a token given while Connect was shown (undefined: none)
  var saved = null;        // {focus, overflow} to restore on close

  function findScript() {
    var s = document.getElementsByTagName("script");
    for (var i = s.length - 1; i >= 0; i--) {
      if (/\/(initialize|pelm-connect)\.js([?#]|$)/.test(s[i].src)) {
        return s[i];
      }
    }
    return null;
  }

  function call(fn, args) {
    if (typeof fn === "function") {
      fn.apply(null, args);
    }
  }

  function validToken(t) {
    return typeof t === "string" && t !== "";
  }

  function attach(el) {
    if (document.body) {
      document.body.appendChild(el);
    } else {
      document.addEventListener("DOMContentLoaded", function () { document.body.appendChild(el); });
    }
  }

  function makeFrame(t) {
    if (!origin) {
      console.error("gridlink Connect: cannot tell which server this script came from; load it with <script src=\".../initialize.js\">");
      return;
    }
    frame = document.createElement("iframe");
    frame.title = "Connect your utility account";
    frame.src = origin + "/?connect_token=" + encodeURIComponent(t) +
      "&parent_origin=" + encodeURIComponent(location.origin);
    var style = {
      position: "fixed", top: "0", left: "0", width: "100%", height: "100%",
      border: "0", margin: "0", padding: "0", zIndex: "2147483647",
      display: "none", background: "transparent", colorScheme: "normal"
    };
    for (var k in style) {
      frame.style[k] = style[k];
    }
    attach(frame);
  }

  function removeFrame() {
    if (frame && frame.parentNode) {
      frame.parentNode.removeChild(frame);
    }
    frame = null;
    ready = false;
    readyCalled = null;
  }

  // setToken keeps the iframe for the same token and replaces it otherwise.
  // A token that already connected gets no iframe: it cannot connect again.
  function setToken(t) {
    if (t === token && (frame || !t || used[t])) {
      return;
    }
    removeFrame();
    token = t;
    if (t && !used[t]) {
      makeFrame(t);
    }
  }

  function notifyReady() {
    var fn = config.onReady;
    if (ready && typeof fn === "function" && fn !== readyCalled) {
      readyCalled = fn;
      fn();
    }
  }

  function send(type) {
    if (frame && frame.contentWindow && origin) {
      frame.contentWindow.postMessage({ source: SOURCE, type: type }, origin);
    }
  }

  function initialize(c) {
    config = c || {};
    var t = validToken(config.connectToken) ? config.connectToken : "";
    if (shown) {
      pending = t === token ? undefined : t; // never pull Connect away from the user
      return;
    }
    setToken(t);
    if (ready) {
      setTimeout(notifyReady, 0);
    }
  }

  function open(c) {
    if (c && typeof c === "object") {
      config = {
        connectToken: c.connectToken,
        onSuccess: c.onSuccess || config.onSuccess,
        onExit: c.onExit || config.onExit,
        onReady: c.onReady || config.onReady
      };
      if (validToken(c.connectToken) && !shown) {
        setToken(c.connectToken);
      }
    }
    if (shown) {
      return;
    }
    if (!frame) {
      console.error("gridlink Connect: open() needs a connect token that has not connected yet: call initialize({connectToken}) first");
      call(config.onExit, ["connect_token_invalid", {}]);
      return;
    }
    shown = true;
    saved = { focus: document.activeElement, overflow: document.documentElement.style.overflow };
    document.documentElement.style.overflow = "hidden";
    frame.style.display = "block";
    frame.focus();
    if (ready) {
      send("open");
    }
  }

  // hide closes the dialog and restores the page's scroll and focus.
  function hide() {
    if (!shown) {
      return;
    }
    shown = false;
    if (frame) {
      frame.style.display = "none";
    }
    document.documentElement.style.overflow = saved.overflow;
    if (saved.focus && typeof saved.focus.focus === "function") {
      saved.focus.focus();
    }
    saved = null;
  }

  // next prepares the iframe for a later open(): a fresh Connect session for
  // the same token after an exit, none after a success.
  function next() {
    var t = pending !== undefined ? pending : token;
    pending = undefined;
    var fn = readyCalled;
    removeFrame();
    token = "";
    setToken(t);
    readyCalled = t === token ? fn : null; // onReady was called for this token already
  }

  function succeed(code) {
    used[token] = true;
    hide();
    next();
    call(config.onSuccess, [code]);
  }

  function leave(status, metadata) {
    hide();
    next();
    call(config.onExit, [status, metadata]);
  }

  function exit() {
    if (shown) {
      leave("user_initiated_exit", {});
    }
  }

  function cleanMetadata(m) {
    if (!m || typeof m !== "object" || m.utility_id === undefined) {
      return {};
    }
    return { utility_id: String(m.utility_id), utility_name: String(m.utility_name || "") };
  }

  window.addEventListener("message", function (e) {
    if (!frame || !origin || e.origin !== origin || e.source !== frame.contentWindow) {
      return;
    }
    var m = e.data;
    if (!m || typeof m !== "object" || m.source !== SOURCE) {
      return;
    }
    if (m.type === "ready") {
      ready = true;
      notifyReady();
      if (shown) {
        send("open");
      }
    } else if (m.type === "success" && validToken(m.code)) {
      succeed(m.code);
    } else if (m.type === "exit") {
      leave(STATUSES.indexOf(m.status) >= 0 ? m.status : "internal_error", cleanMetadata(m.metadata));
    }
  });

  // While Connect is shown, the focus stays in it and Escape closes it.
  document.addEventListener("focusin", function (e) {
    if (shown && frame && e.target !== frame) {
      frame.focus();
    }
  }, true);
  document.addEventListener("keydown", function (e) {
    if (shown && (e.key === "Escape" || e.key === "Esc")) {
      e.preventDefault();
      if (ready) {
        send("close"); // the page knows the status to report
      } else {
        exit();
      }
    }
  }, true);

  window.PelmConnect = {
    gridlink: true,
    initialize: initialize,
    open: open,
    exit: exit,
    create: function (c) {
      initialize(c);
      return {
        open: function () { open(c); },
        exit: function () { exit(); }
      };
    }
  };
})();
