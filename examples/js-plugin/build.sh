#!/usr/bin/env bash
# Builds the `case` plugin: installs a pinned componentize-js into node_modules under
# target/ (first run only), compiles plugin.js against the WIT world `basic`, and embeds
# manifest.json with `conch plugin package`. Prints the plugin's path last.
#
#   examples/js-plugin/build.sh      → target/examples/case.wasm
#
# CONCH names the conch binary (default: target/release/conch; build it first).
set -euo pipefail

COMPONENTIZE_JS_VERSION=0.23.0

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/target/examples/js-plugin"
plugin="$root/target/examples/case.wasm"
conch=${CONCH:-$root/target/release/conch}
package="$work/node_modules/@bytecodealliance/componentize-js/package.json"

fail() {
    echo "js-plugin: $*" >&2
    exit 1
}

[ -x "$conch" ] || fail "no conch binary at $conch; run \`cargo build --release\` first or set CONCH"
command -v node >/dev/null || fail "node is not installed; install Node.js 18 or later"
mkdir -p "$work"

if ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$package" 2>/dev/null; then
    command -v npm >/dev/null || fail "npm is not installed; install it with Node.js"
    npm install --prefix "$work" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2 ||
        fail "cannot install componentize-js $COMPONENTIZE_JS_VERSION with npm"
fi

# Skipped while the component is newer than its inputs.
component="$work/case-component.wasm"
if [ ! -f "$component" ] || [ "$here/plugin.js" -nt "$component" ] ||
    [ "$here/componentize.mjs" -nt "$component" ] || [ "$root/wit/tool.wit" -nt "$component" ]; then
    # Beside node_modules, so that its import of componentize-js resolves.
    cp "$here/componentize.mjs" "$work/componentize.mjs"
    node "$work/componentize.mjs" "$here/plugin.js" "$root/wit" "$component.tmp" ||
        fail "componentize-js could not build plugin.js (see above)"
    mv "$component.tmp" "$component"
fi

"$conch" plugin package "$component" --manifest "$here/manifest.json" -o "$plugin" >&2
echo "$plugin"
