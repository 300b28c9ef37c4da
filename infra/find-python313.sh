#!/bin/sh
# Prints the directory of a Python 3.13, the template's runtime, for `sam build` and the bench to
# put first on PATH: python3.13 on PATH if it runs (a pyenv shim may be there but not run), else
# pyenv's newest 3.13.x. Without one it says how to get one, and fails.
set -eu

if python3.13 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
    dirname "$(command -v python3.13)"
    exit 0
fi

if command -v pyenv >/dev/null 2>&1; then
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$' | sort -t. -k3,3n | tail -n 1 || true)
    if [ -n "$version" ]; then
        prefix=$(pyenv prefix "$version")
        if "$prefix/bin/python3.13" -c '' >/dev/null 2>&1; then
            echo "$prefix/bin"
            exit 0
        fi
    fi
fi

cat >&2 <<'MESSAGE'
No Python 3.13 found. `sam build` needs the template's runtime (python3.13) to build the
function packages and the dependencies layer without Docker. Install one, then run `make build`
again:
  - pyenv:          pyenv install 3.13        (found automatically, no need to select it)
  - Debian/Ubuntu:  apt-get install python3.13 (where your release or the deadsnakes PPA has it)
  - macOS:          brew install python@3.13
  - or the installer from https://www.python.org/downloads/
MESSAGE
exit 1
