"""Copy ``bench/results.md`` (written by ``make bench``) into README.md between the results markers.

``python scripts/update_readme_results.py [--results bench/results.md] [--readme README.md]``

The results file's own ``# title`` is dropped (the README section has its heading) and relative
links such as the plot are re-rooted at the README's folder. Everything outside the markers is kept
byte for byte; missing markers are an error, never a guess about where to write.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

START, END = "<!-- results:start -->", "<!-- results:end -->"


def rebase_links(markdown: str, results_dir: str, readme_dir: str) -> str:
    """``](plot.png)`` in ``bench/results.md`` becomes ``](bench/plot.png)`` in ``README.md``."""
    prefix = os.path.relpath(results_dir, readme_dir)

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z]+:|^/|^#", target) or prefix == ".":
            return m.group(0)
        return f"{m.group(1)}({os.path.join(prefix, target).replace(os.sep, '/')})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", fix, markdown)


def section_text(results_path: str, readme_path: str) -> str:
    with open(results_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip() + "\n"
    return rebase_links(body, os.path.dirname(os.path.abspath(results_path)),
                        os.path.dirname(os.path.abspath(readme_path)))


def update(readme_text: str, section: str) -> str:
    if readme_text.count(START) != 1 or readme_text.count(END) != 1 or readme_text.index(START) > readme_text.index(END):
        raise ValueError(f"README needs exactly one {START} ... {END} pair")
    head, rest = readme_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="bench/results.md")
    parser.add_argument("--readme", default="README.md")
    args = parser.parse_args(argv)
    for path in (args.results, args.readme):
        if not os.path.isfile(path):
            print(f"error: {path} not found" + (" (run `make bench` first)" if path == args.results else ""),
                  file=sys.stderr)
            return 2
    with open(args.readme, encoding="utf-8") as f:
        readme = f.read()
    try:
        new = update(readme, section_text(args.results, args.readme))
    except ValueError as e:
        print(f"error: {args.readme}: {e}", file=sys.stderr)
        return 2
    tmp = args.readme + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, args.readme)
    print(f"{args.readme}: results section {'updated' if new != readme else 'already up to date'} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
