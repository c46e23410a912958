// A conch plugin in JavaScript: `case` rewrites a text in another case (upper, lower,
// title, snake, kebab, camel).
//
// Built with componentize-js against the WIT world `basic` (see build.sh): the export
// `tool` is the object `tool` below; a thrown `{ tag, val }` becomes the `tool-error`
// the call returns.

import { log } from "conch:tool/log@0.1.2";

const STYLES = ["upper", "lower", "title", "snake", "kebab", "camel"];

function invalid(message) {
  return { tag: "invalid-input", val: message };
}

// The words of `text`: runs of ASCII letters and digits, split where a lower-case letter
// or a digit meets an upper-case one ("fooBar" → foo, Bar) and before the last capital
// of an acronym that starts a word ("HTTPResponse" → HTTP, Response). ASCII only: the
// engine's regular expressions have no Unicode property classes (`\p{L}`).
function words(text) {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0);
}

function capitalize(word) {
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

function convert(text, to) {
  switch (to) {
    case "upper":
      return text.toUpperCase();
    case "lower":
      return text.toLowerCase();
    case "title":
      return text.replace(/[A-Za-z][A-Za-z0-9']*/g, capitalize);
    case "snake":
      return words(text).map((w) => w.toLowerCase()).join("_");
    case "kebab":
      return words(text).map((w) => w.toLowerCase()).join("-");
    case "camel":
      return words(text)
        .map((w, i) => (i === 0 ? w.toLowerCase() : capitalize(w)))
        .join("");
  }
  throw invalid(`\`to\` must be one of ${STYLES.join(", ")}; got ${JSON.stringify(to)}`);
}

export const tool = {
  invoke(name, inputJson, _ctx) {
    if (name !== "case") {
      throw { tag: "unknown-tool", val: `this plugin has no tool \`${name}\`` };
    }
    let input;
    try {
      input = JSON.parse(inputJson);
    } catch (e) {
      throw invalid(`the input is not JSON: ${e.message}`);
    }
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      throw invalid("the input must be a JSON object");
    }
    if (typeof input.text !== "string") {
      throw invalid('`text` must be a string, e.g. {"text": "hello world", "to": "snake"}');
    }
    log("debug", `case ${input.to} over ${input.text.length} characters`);
    const text = convert(input.text, input.to);
    return { text, metadata: JSON.stringify({ to: input.to }) };
  },
};
