#!/usr/bin/env bash
# Builds the `wordcount` plugin: installs a pinned componentize-py into a venv under
# target/ (first run only), compiles app.py against the WIT world `basic`, and embeds
# manifest.json with `conch plugin package`. Prints the plugin's path last.
#
#   examples/python-plugin/build.sh      → target/examples/wordcount.wasm
#
# CONCH names the conch binary (default: target/release/conch; build it first).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/target/examples/python-plugin"
plugin="$root/target/examples/wordcount.wasm"
conch=${CONCH:-$root/target/release/conch}
venv="$work/venv"
componentize="$venv/bin/componentize-py"

fail() {
    echo "python-plugin: $*" >&2
    exit 1
}

[ -x "$conch" ] || fail "no conch binary at $conch; run \`cargo build --release\` first or set CONCH"
mkdir -p "$work"

if [ "$("$componentize" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
    command -v python3 >/dev/null || fail "python3 is not installed; install Python 3.10 or later"
    rm -rf "$venv"
    python3 -m venv "$venv" ||
        fail "cannot create a venv with python3 (on Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" ||
        fail "cannot install componentize-py $COMPONENTIZE_PY_VERSION with pip"
fi

# componentize-py runs the app to snapshot it (and writes __pycache__ beside it), so it
# works on a copy under target/. Skipped while the component is newer than its inputs.
component="$work/wordcount-component.wasm"
if [ ! -f "$component" ] || [ "$here/app.py" -nt "$component" ] ||
    [ "$root/wit/tool.wit" -nt "$component" ]; then
    mkdir -p "$work/src"
    cp "$here/app.py" "$work/src/app.py"
    "$componentize" -d "$root/wit" -w basic componentize app -p "$work/src" \
        -o "$component.tmp" >&2 || fail "componentize-py could not build app.py (see above)"
    mv "$component.tmp" "$component"
fi

"$conch" plugin package "$component" --manifest "$here/manifest.json" -o "$plugin" >&2
echo "$plugin"
