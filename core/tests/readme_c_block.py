"""Write the one C code block of a Markdown file to a .c file.

meson runs this to build the program shown in core/README.md
(readme_example), so the README's code is compiled like every other C
target: usage: readme_c_block.py README.md out.c
"""

import re
import sys


def main(source: str, output: str) -> int:
    with open(source, encoding="utf-8") as f:
        blocks = re.findall(r"```c\n(.*?)```", f.read(), re.DOTALL)
    if len(blocks) != 1:
        print(
            f"{source}: want one ```c block, found {len(blocks)}",
            file=sys.stderr,
        )
        return 1
    with open(output, "w", encoding="utf-8") as f:
        f.write(blocks[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
