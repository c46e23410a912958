"""A conch plugin in Python: `wordcount` counts the lines, words and characters of a text
and names its most frequent words.

Built with componentize-py against the WIT world `basic` (see build.sh); the bindings
(`wit_world`) are generated at build time.
"""

import json
from collections import Counter

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, types


def invalid(message: str) -> Err:
    return Err(types.ToolError_InvalidInput(message))


def wordcount(args: dict) -> types.ToolOutput:
    text = args.get("text")
    if not isinstance(text, str):
        raise invalid('`text` must be a string, e.g. {"text": "one two two"}')
    if not text.strip():
        raise invalid("`text` is empty: give the text to count")
    top = args.get("top", 3)
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise invalid("`top` must be a whole number of words to list, 0 or more")
    words = [w.strip(".,;:!?\"'()[]{}").lower() for w in text.split()]
    words = [w for w in words if w]
    lines = len(text.splitlines())
    # Most frequent first, ties in alphabetical order (most_common would need heapq,
    # which the component does not carry: see PLUGINS.md).
    counts = sorted(Counter(words).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    summary = f"{lines} lines, {len(words)} words, {len(text)} characters"
    if counts:
        summary += "\nmost frequent: " + ", ".join(f"{w} ({n})" for w, n in counts)
    metadata = {"lines": lines, "words": len(words), "characters": len(text)}
    return types.ToolOutput(text=summary, metadata=json.dumps(metadata))


class Tool(exports.Tool):
    def invoke(
        self, tool: str, input_json: str, ctx: types.CallContext
    ) -> types.ToolOutput:
        if tool != "wordcount":
            raise Err(types.ToolError_UnknownTool(f"this plugin has no tool `{tool}`"))
        try:
            args = json.loads(input_json)
        except json.JSONDecodeError as e:
            raise invalid(f"the input is not JSON: {e}")
        if not isinstance(args, dict):
            raise invalid("the input must be a JSON object")
        log.log(log.Level.DEBUG, f"wordcount over {len(str(args.get('text')))} characters")
        return wordcount(args)
