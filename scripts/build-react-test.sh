#!/usr/bin/env bash
# Builds the React test page of internal/e2e: react-pelm-connect@1.2.1 from
# the npm registry, unmodified, bundled with esbuild into
# internal/e2e/testdata/react/dist/app.js. Needs node and npm. .ci/run runs
# it, and TestReactPelmConnect runs it when the bundle is missing or older
# than its sources.
set -euo pipefail
cd "$(dirname "$0")/../internal/e2e/testdata/react"
npm ci --no-audit --no-fund --loglevel=error
npx --no-install esbuild src/index.jsx --bundle --minify --log-level=warning \
  --define:process.env.NODE_ENV='"production"' --outfile=dist/app.js
echo "built $(pwd)/dist/app.js"
