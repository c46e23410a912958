// Compiles a JavaScript module to a component for the WIT world `basic` with
// componentize-js. build.sh copies this script beside the node_modules it installed.
//
//   node componentize.mjs SOURCE.js WIT_DIR OUT.wasm

import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";

const [sourcePath, witPath, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node componentize.mjs SOURCE.js WIT_DIR OUT.wasm");
  process.exit(2);
}
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName: "basic",
  // The host links no wasi:http; everything else the engine imports is plain WASI.
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(out, component);
