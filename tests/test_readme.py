"""The docs' promises: every Python block in README.md and docs/*.md runs and prints what its
last line says, CI runs the Quickstart's test line verbatim, and relative links resolve."""

import pathlib
import re
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A fenced block, possibly indented (inside a list item): its fence's indent, language, body.
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", flags=re.S | re.M)


def _name(page):
    return page.relative_to(ROOT).as_posix()


def _blocks(page, lang):
    text = page.read_text()
    return [textwrap.dedent(m.group(3)) for m in _FENCE.finditer(text) if m.group(2) == lang]


PYTHON_BLOCKS = [
    pytest.param(page, i, code, id=f"{_name(page)}-{i}")
    for page in PAGES
    for i, code in enumerate(_blocks(page, "python"))
]


def test_quickstart_has_two_lines_and_ci_runs_the_test_line():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    lines = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, flags=re.S)]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci, "the README's test line must appear verbatim in .ci/run"


def test_readme_marks_the_default_run_paragraph_once():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert quick.count("<!-- default-run -->") == 1 and quick.count("<!-- /default-run -->") == 1
    inside = quick.split("<!-- default-run -->", 1)[1].split("<!-- /default-run -->", 1)[0]
    assert inside.startswith("The default run") and "\n\n" not in inside


def test_there_are_python_blocks_and_each_ends_with_its_expected_output():
    assert any(_name(param.values[0]) == "README.md" for param in PYTHON_BLOCKS)
    for param in PYTHON_BLOCKS:
        page, i, code = param.values
        last = code.strip().splitlines()[-1]
        assert last.startswith("# "), f"{_name(page)} block {i}: last line must be '# <output>'"


@pytest.mark.slow
@pytest.mark.parametrize("page, index, code", PYTHON_BLOCKS)
def test_python_block_runs_and_prints_what_it_says(page, index, code, capsys):
    expected = code.strip().splitlines()[-1]
    assert expected.startswith("# ")
    exec(compile(code, f"{_name(page)} (python block {index})", "exec"), {"__name__": "docs"})
    assert expected[2:] in capsys.readouterr().out


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _prose(text):
    """The text without fenced blocks and inline code (which may hold `[...](...)`)."""
    return re.sub(r"`[^`\n]*`", "", _FENCE.sub("", text))


def _anchors(page):
    seen, anchors = {}, set()
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", page.read_text()), flags=re.M):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(target)
    assert not broken, f"{_name(page)}: links that do not resolve: {broken}"
