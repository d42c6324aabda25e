"""The README's promises: its Python example runs, and CI runs its test line verbatim."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_quickstart_has_two_lines_and_ci_runs_the_test_line():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    lines = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, flags=re.S)]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci, "the README's test line must appear verbatim in .ci/run"


@pytest.mark.slow
def test_python_examples_run_and_print_what_they_say(capsys):
    blocks = _blocks("python")
    assert len(blocks) == 2
    for code in blocks:
        expected = code.strip().splitlines()[-1]
        assert expected.startswith("# ")
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        assert expected[2:] in capsys.readouterr().out
