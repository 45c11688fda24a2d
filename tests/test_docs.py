"""The docs' generated tables are up to date with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_model_doc_is_fresh() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_model_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_scenario_doc_is_fresh() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_scenario_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_readme_commands_match_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert [ln for ln in ci.splitlines() if ln and not ln.startswith(("#", "set ", "cd "))] == [
        "make test"
    ]


def test_the_deploy_guides_scenario_is_valid(tmp_path: Path) -> None:
    """The [sites.realtime] tables of docs/deploy.md are what greenhop accepts."""
    import re

    from greenhop.live.control.realtime import site_feeds
    from greenhop.scenario import load_scenario

    text = (Path(__file__).parent.parent / "docs" / "deploy.md").read_text()
    block = re.findall(r"```toml\n(.*?)```", text, re.S)[0]
    head = (
        'name = "deploy"\nstart = 2024-06-18T00:00:00Z\nend = 2024-06-18T01:00:00Z\n'
        'step = "1min"\n'
    )
    path = tmp_path / "my-sites.toml"
    path.write_text(head + block)
    scenario = load_scenario(path)
    feeds = site_feeds(scenario)
    assert feeds.site_names == ("berlin", "lyon")
    assert feeds.forecast == ["clear-sky", "source"]
    assert feeds.base_load[0] is not None and feeds.base_load[1] is None
