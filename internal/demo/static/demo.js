/*
 * Acme Energy, the demo app of gridlink dev: the page side. It uses the
 * widget as any app would: window.PelmConnect from /initialize.js.
 * onSuccess posts the code to the app's backend (/demo/exchange), which
 * exchanges it with its client secret; onExit shows the status.
 */
(function () {
  "use strict";
  var box = document.getElementById("connect");
  if (!box) {
    return;
  }
  var button = document.getElementById("connect-button");
  var status = document.getElementById("connect-status");
  if (!window.PelmConnect) {
    status.textContent = "The widget script /initialize.js did not load.";
    return;
  }
  window.PelmConnect.initialize({
    connectToken: box.getAttribute("data-connect-token") || undefined,
    onReady: function () {
      button.disabled = false;
      status.textContent = "Connect is ready.";
    },
    onSuccess: function (code) {
      box.setAttribute("data-result", "success");
      status.textContent = "Connected. Exchanging the authorization code…";
      document.getElementById("code").value = code;
      document.getElementById("exchange").submit();
    },
    onExit: function (exitStatus, metadata) {
      box.setAttribute("data-result", exitStatus);
      status.textContent = "Connect closed: onExit(" + JSON.stringify(exitStatus) + ", " + JSON.stringify(metadata) + ")";
    }
  });
  button.addEventListener("click", function () {
    window.PelmConnect.open();
  });
})();
