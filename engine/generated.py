"""Generated files: Go's convention that a `// Code generated ... DO NOT EDIT.` comment before the
package clause marks a file no one edits by hand (https://go.dev/s/generatedcode, go/ast.IsGenerated)."""

from __future__ import annotations

import re

_GENERATED = re.compile(rb"// Code generated .* DO NOT EDIT\.")


def is_generated(data: bytes) -> bool:
    """Whether a `// Code generated ... DO NOT EDIT.` comment comes before the first non-comment,
    non-blank text, as go/ast.IsGenerated decides: the header is read line by line up to the
    package clause, never the whole file."""
    pos, block = (3 if data.startswith(b"\xef\xbb\xbf") else 0), False
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line, pos = data[pos:end].removesuffix(b"\r"), end + 1
        if _GENERATED.fullmatch(line):  # the convention's line, even inside a block comment
            return True
        i = 0
        while i < len(line):
            if block:
                close = line.find(b"*/", i)
                block, i = (True, len(line)) if close < 0 else (False, close + 2)
            elif line[i : i + 1] in (b" ", b"\t", b"\r", b"\f", b"\v"):
                i += 1
            elif line.startswith(b"//", i):  # indented or after a /* */ too, as go/ast reads comments
                if _GENERATED.fullmatch(line[i:]):
                    return True
                break
            elif line.startswith(b"/*", i):
                block, i = True, i + 2
            else:
                return False  # the package clause, or any other text: the header is over
    return False
