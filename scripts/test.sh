#!/usr/bin/env bash
# The one test command (README: `npm test`). On a fresh Debian machine as root it installs what the
# tests need; elsewhere it names what is missing. Then: type checks, unit/property/oracle tests,
# the build, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nasm >/dev/null 2>&1 || need+=(nasm)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
{ command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi 'Noto Sans CJK'; } || need+=(fonts-noto-cjk)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing system packages: ${need[*]}" >&2
    echo "test.sh: install them (Debian: apt-get install ${need[*]}); tests that need them will say so and skip, browser tests need chromium" >&2
  fi
fi

# Node packages: exactly the lock file, on CI or whenever it changed since the last install.
if [ -n "${CI:-}" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "== type checks"
npm run --silent check
mkdir -p .test-report
echo "== unit, property and oracle tests"
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-report/vitest.json
echo "== build"
npx vite build --logLevel warn
echo "== browser tests"
PLAYWRIGHT_JSON_OUTPUT_NAME=.test-report/playwright.json npx playwright test --reporter=list,json

# One closing line for both runners: N passed, N failed, N skipped.
node -e '
const fs = require("fs");
const v = JSON.parse(fs.readFileSync(".test-report/vitest.json", "utf8"));
const p = JSON.parse(fs.readFileSync(".test-report/playwright.json", "utf8")).stats;
const passed = v.numPassedTests + p.expected + p.flaky;
const failed = v.numFailedTests + p.unexpected;
const skipped = v.numPendingTests + v.numTodoTests + p.skipped;
if (p.flaky > 0) console.log(`note: ${p.flaky} browser test(s) failed once and passed on retry (flaky)`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
'
