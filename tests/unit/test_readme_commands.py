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


# A rule code as the code writes it: ``rule="…"`` at a RuleViolation or a Lifecycle, a dataclass
# default ``rule: str = "…"``, a module constant ``…_RULE = "…"``, or the code a service's file
# reader hands to its RuleViolation (``UnreadableFile("…", "code")``).
RULE_CODE = re.compile(r'\brule(?:: str)?\s*=\s*"([a-z_0-9]+)"|\b[A-Z_]*RULE\s*=\s*"([a-z_0-9]+)"'
                       r'|UnreadableFile\([^\n]*?,\s*"([a-z_0-9]+)"\)')


def rule_codes(directory: Path) -> set[str]:
    return {code for module in directory.rglob("*.py")
            for found in RULE_CODE.findall(module.read_text(encoding="utf-8")) for code in found if code}


def test_the_rules_page_lives_in_the_repository_and_names_every_programme_rule():
    """docs/rules.md, not a digest elsewhere: every rule code any service, the gateway or a shared
    module refuses with is on it, beside its number and source document."""
    root = README.parent
    readme = README.read_text(encoding="utf-8")
    assert "docs/rules.md" in readme
    assert not re.findall(r"\]\((?:\.\./|/|file:)[^)]*\)", readme), "links leave the repository"
    page = (root / "docs" / "rules.md").read_text(encoding="utf-8")
    for source in ("Lecturer plan 2022", "Case campaign 2023", "Nanhai model", "Beijing opinion", "Training plan 2018"):
        assert f"**{source}**" in page, source
    services = sorted(d for d in (root / "services").iterdir() if (d / "__init__.py").exists())
    assert {d.name for d in services} >= {"registration", "training", "scoring", "subsidies", "cases", "risk",
                                          "webhooks"}
    missing, counted = {}, {}
    for directory in [*services, root / "shared", root / "gateway"]:
        codes = rule_codes(directory)
        counted[directory.name] = len(codes)
        if absent := sorted(c for c in codes if f"`{c}`" not in page):
            missing[directory.name] = absent
    for where in ("registration", "training", "scoring", "subsidies", "cases", "risk", "webhooks", "shared"):
        assert counted[where], f"no rule code found in {where}: the pattern no longer reads the code"
    assert missing == {}


def test_the_rule_code_pattern_reads_every_way_a_code_is_written():
    written = ('raise RuleViolation("late", {}, rule="registration_deadline")\n'
               'X = Lifecycle("a hazard", T, rule="hazard_transition")\n'
               '    rule: str = "status_transition"\n'
               'TARGET_RULE = "webhook_target"\n'
               'raise UnreadableFile(f"图片无法读取（{exc}）", "unreadable_file") from None\n'
               'rule = failures[0]\n')
    found = {code for match in RULE_CODE.findall(written) for code in match if code}
    assert found == {"registration_deadline", "hazard_transition", "status_transition", "webhook_target",
                     "unreadable_file"}
