#!/usr/bin/env bash
# The report test renders pages in Debian's headless chromium. Install it when missing and
# possible (root with apt-get); otherwise the browser test is skipped with a reason.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "could not install chromium; the browser test will be skipped"
fi
exit 0
