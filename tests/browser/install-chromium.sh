#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing and this machine can
# (root with apt-get). Prints why not otherwise; never fails the caller.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: browser tests will be skipped"
else
  echo "chromium is not installed and needs root with apt-get: browser tests will be skipped"
fi
exit 0
