// A tiny React app that embeds gridlink Connect the way Pelm customers did:
// the unmodified react-pelm-connect package, environment 'development'
// (which loads http://localhost:8080/initialize.js). Its backend (the Go
// test's server) creates the connect token at POST /token. The callbacks are
// recorded in window.__events for the test and shown on the page.
import React, { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { useConnect } from "react-pelm-connect";

window.__events = [];

function App() {
  const [token, setToken] = useState(undefined);
  const [log, setLog] = useState([]);
  useEffect(() => {
    fetch("/token", { method: "POST" })
      .then((r) => r.json())
      .then((j) => setToken(j.connect_token));
  }, []);
  const record = (e) => {
    window.__events.push(e);
    setLog((l) => [...l, e]);
  };
  // A new config object on every render, as in most apps: the hook calls
  // PelmConnect.initialize on each one.
  const config = {
    connectToken: token,
    environment: "development",
    onSuccess: (code) => record({ type: "success", code }),
    onExit: (status, metadata) => record({ type: "exit", status, metadata }),
  };
  const { open, ready, error } = useConnect(config);
  return (
    <main>
      <h1>React test app</h1>
      <button id="connect" type="button" disabled={!ready} onClick={() => open()}>
        Connect your utility
      </button>
      <p id="state">{error ? "script error" : ready ? "ready" : "loading"}</p>
      <ul id="log">
        {log.map((e, i) => (
          <li key={i}>{e.type === "success" ? "onSuccess" : "onExit " + e.status}</li>
        ))}
      </ul>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
