// Package e2e holds gridlink's end-to-end browser tests of embedded Connect:
// the gridlink binary is built and started as `gridlink dev`, exactly as a
// developer runs it, and headless Chromium drives pages that embed Connect
// through /initialize.js: a plain HTML page, a React page built from the
// unmodified react-pelm-connect package, and the /demo app.
//
// Only TestReactPelmConnect binds port 8080 (the package hard-codes
// http://localhost:8080/initialize.js); every other test uses a free port.
package e2e
