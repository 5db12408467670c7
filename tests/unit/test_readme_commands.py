"""The README's shell commands follow GATEWAY_ADDRESS instead of assuming the default port."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_no_curl_in_the_readme_hard_codes_the_gateway_address():
    curls = [line for block in shell_blocks() for line in block.splitlines() if line.lstrip().startswith("curl")]
    assert curls, "the README shows curl commands"
    for line in curls:
        assert not re.search(r"https?://(127\.0\.0\.1|localhost)(:\d+)?", line), line
        assert "$API" in line, line


def test_the_readme_api_address_is_the_gateway_address_when_set():
    setters = {line.split("#")[0].strip() for block in shell_blocks() for line in block.splitlines()
               if line.startswith("API=")}
    assert setters, "the README says where the API is"
    for setter in setters:
        for env, expected in (({"GATEWAY_ADDRESS": "10.1.2.3:9000"}, "http://10.1.2.3:9000"),
                              ({}, "http://127.0.0.1:8000")):
            out = subprocess.run(["bash", "-c", f'{setter}; printf %s "$API"'], env={"PATH": "/usr/bin:/bin", **env},
                                 capture_output=True, text=True, check=True).stdout
            assert out == expected, (setter, env, out)


def test_the_rules_page_lives_in_the_repository_and_names_every_programme_rule():
    """docs/rules.md, not a digest elsewhere: every rule code the lecturer programme's services refuse
    with is on it, beside its number and source document."""
    root = README.parent
    readme = README.read_text(encoding="utf-8")
    assert "docs/rules.md" in readme
    assert not re.findall(r"\]\((?:\.\./|/|file:)[^)]*\)", readme), "links leave the repository"
    page = (root / "docs" / "rules.md").read_text(encoding="utf-8")
    for source in ("Lecturer plan 2022", "Case campaign 2023", "Nanhai model", "Beijing opinion", "Training plan 2018"):
        assert f"**{source}**" in page, source
    missing = {}
    for service in ("registration", "training", "scoring", "subsidies"):
        codes = set()
        for module in (root / "services" / service).glob("*.py"):
            codes |= set(re.findall(r'rule="([a-z_0-9]+)"', module.read_text(encoding="utf-8")))
        assert codes, service
        if absent := sorted(c for c in codes if f"`{c}`" not in page):
            missing[service] = absent
    assert missing == {}
