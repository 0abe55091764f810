"""`gateway rules check`: every problem as PATH:LINE: message, lint warnings, --strict."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.cli import main
from gateway.routing.lint import lint
from gateway.routing.rules import RulesError, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
timezone: Asia/Shanghai
business_hours:
  weekly:
    mon: ["09:00-12:00", "13:00-18:00"]
skills: [payments, chinese]
queues:
  payments-zh: {skills: {payments: 2, chinese: 3}}
  general: {}
agents:
  alice: {skills: {payments: 4, chinese: 5}, capacity: 3}
defaults:
  targets: [{queue: general, priority: 3}]
rules:
  - name: payments-zh
    when:
      keywords: [付款, payment]
      language: zh
    targets:
      - {queue: payments-zh, priority: 7, timeout: 10m}
      - {queue: general}
"""


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = main(["rules", "check", str(path), *extra])
    return code, capsys.readouterr().out.splitlines()


def variant(old: str, new: str, base: str = VALID) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def test_a_valid_file_passes(write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rules(VALID)
    code, out = check(path, capsys)
    version = load_rules(path).version
    assert (code, out) == (0, [f"{path}: ok — 1 rules, 2 queues, 1 agents, version {version}"])


ERRORS = [
    (
        "unknown queue",
        ("      - {queue: general}\n", "      - {queue: genral}\n"),
        "21: rule 'payments-zh': target 2: unknown queue 'genral' (queues: payments-zh, general)",
    ),
    (
        "unknown skill of a queue",
        ("{payments: 2, chinese: 3}", "{payments: 2, chinse: 3}"),
        "8: queue 'payments-zh' skills: unknown skill 'chinse' (declare it under `skills:`)",
    ),
    (
        "unknown skill of an agent",
        ("{payments: 4, chinese: 5}", "{payments: 4, mandarin: 5}"),
        "11: agent 'alice' skills: unknown skill 'mandarin' (declare it under `skills:`)",
    ),
    (
        "bad duration",
        ("timeout: 10m}", "timeout: 10 minutes}"),
        "20: rule 'payments-zh': target 1: bad duration '10 minutes' for timeout (use e.g. 30s, 10m, 2h, 1d)",
    ),
    (
        "unknown condition key",
        ("      keywords: [付款, payment]\n", "      keyword: [付款, payment]\n"),
        "17: rule 'payments-zh': unknown condition key 'keyword' (known: channel, language, keywords, all_keywords, "
        "regex, subject_keywords, business_hours, new_contact, verified, contact.<attribute>, attribute.<name>)",
    ),
    (
        "YAML syntax",
        ("      language: zh\n", "      language: zh: cn\n"),
        "18: YAML syntax error: mapping values are not allowed in this context",
    ),
    (
        "bad priority",
        ("priority: 7,", "priority: 12,"),
        "20: rule 'payments-zh': target 1: priority must be a whole number from 0 to 9, not '12'",
    ),
    (
        "bad time interval",
        ('"13:00-18:00"', '"13:00-12:00"'),
        "5: business_hours.weekly.mon: bad time interval '13:00-12:00': the end must be after the start "
        "(split hours past midnight over two days: 22:00-24:00 and 00:00-02:00)",
    ),
    (
        "bad timezone",
        ("timezone: Asia/Shanghai", "timezone: Asia/Beijing"),
        "2: unknown timezone 'Asia/Beijing' (use an IANA name such as Asia/Shanghai)",
    ),
    (
        "unknown channel",
        ("      language: zh\n", "      channel: [sms, fax]\n"),
        "18: rule 'payments-zh': channel: unknown channel 'fax' (channels: api, email, form, instagram, messenger, sms, "
        "telegram, voice, webchat, wechat, whatsapp)",
    ),
    (
        "bad regex",
        ("      language: zh\n", "      regex: 'order (\\d+'\n"),
        "18: rule 'payments-zh': regex: bad regular expression 'order (\\d+': RE2: missing ): order (\\d+",
    ),
    (
        "unknown top-level key",
        ("rules:\n", "rule:\n"),
        "14: top level: unknown key 'rule' (known keys: version, timezone, business_hours, skills, queues, agents, "
        "defaults, rules)",
    ),
    (
        "holiday that is no date",
        ('    mon: ["09:00-12:00", "13:00-18:00"]\n', '    mon: ["09:00-12:00"]\n  holidays: [2026-13-01]\n'),
        "6: business_hours.holidays: '2026-13-01' is not a date (write YYYY-MM-DD)",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_each_error_kind_points_at_its_line(
    write_rules: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    expected: str,
) -> None:
    path = write_rules(variant(*change))
    code = main(["rules", "check", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == [f"{path}:{expected}"]
    assert captured.err == f"{path}: 1 error\n"


def test_a_business_hours_condition_needs_business_hours(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = variant('business_hours:\n  weekly:\n    mon: ["09:00-12:00", "13:00-18:00"]\n', "")
    text = variant("      language: zh\n", "      business_hours: false\n", text)
    path = write_rules(text)
    code, out = check(path, capsys)
    assert (code, out) == (
        1,
        [f"{path}:15: rule 'payments-zh': business_hours: there is no `business_hours:` section to test against"],
    )


def test_every_problem_is_reported_in_file_order(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = variant("      - {queue: general}\n", "      - {queue: genral}\n")
    text = variant("timeout: 10m}", "timeout: soon}", text)
    text = variant("{payments: 2, chinese: 3}", "{payments: 7, chinse: 3}", text)
    path = write_rules(text)
    code, out = check(path, capsys)
    assert code == 1
    assert [line.split(": ", 1)[0] for line in out] == [f"{path}:8", f"{path}:8", f"{path}:20", f"{path}:21"]
    assert "queue 'payments-zh' skills.payments level must be a whole number from 1 to 5, not '7'" in out[0]
    assert "unknown skill 'chinse'" in out[1]


def test_duplicate_names_and_missing_sections(write_rules: Callable[..., Path]) -> None:
    text = VALID.replace("defaults:\n  targets: [{queue: general, priority: 3}]\n", "") + (
        "  - name: payments-zh\n    when: {}\n    targets: [{queue: general}]\n"
    )
    with pytest.raises(RulesError) as caught:
        parse_rules(text, path="r.yaml")
    assert caught.value.errors == [
        "r.yaml:1: `defaults:` is missing: it says where conversations no rule matches go",
        "r.yaml:20: rule name 'payments-zh' is used twice (first on line 13)",
    ]


def test_duplicate_yaml_keys_are_refused(write_rules: Callable[..., Path]) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(variant("  general: {}\n", "  general: {}\n  general: {}\n"), path="r.yaml")
    assert caught.value.errors == ["r.yaml:10: duplicate key 'general' (first on line 9)"]


def test_a_missing_file_and_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert check(missing, capsys) == (1, [f"{missing}:1: no such rules file"])
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert check(empty, capsys) == (1, [f"{empty}:1: the rules file is empty"])


def test_not_utf8_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.encode("utf-8").replace("付款".encode(), "caf\xe9".encode("latin-1")))
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.errors == [f"{path}:17: not UTF-8 text"]


LINT = """\
version: 1
skills: [payments, chinese, english, fraud]
queues:
  payments-zh: {skills: {payments: 2, chinese: 3}}
  payments-en: {skills: {payments: 2, english: 4}}
  general: {}
agents:
  alice: {skills: {payments: 4, chinese: 5, english: 3}}
defaults:
  targets: [{queue: general}]
rules:
  - name: payments
    when: {keywords: [付款, pay]}
    targets: [{queue: payments-zh}]
  - name: payments-failed
    when: {keywords: [付款失败, payment failed], channel: sms}
    targets: [{queue: payments-zh, timeout: 5m}, {queue: general}]
  - name: everything
    when: {}
    targets: [{queue: general}, {queue: payments-en}]
  - name: after-everything
    when: {channel: email}
    targets: [{queue: general, timeout: 1m}]
"""


def test_lint_warnings_print_but_pass_unless_strict(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(LINT)
    code, out = check(path, capsys)
    warnings = [
        f"{path}:2: warning: skill 'fraud' is declared but no queue requires it",
        f"{path}:5: warning: queue 'payments-en': no agent has the skills it needs (payments ≥ 2, english ≥ 4)",
        f"{path}:15: warning: rule 'payments-failed' can never match: rule 'payments' (line 12) comes first and "
        "always matches too (its conditions hold whenever this rule's do)",
        f"{path}:20: warning: rule 'everything': target 2 is never reached: target 1 has no timeout",
        f"{path}:21: warning: rule 'after-everything' can never match: rule 'everything' (line 18) comes first and "
        "always matches too (it has no conditions)",
        f"{path}:23: warning: rule 'after-everything': the last target has a timeout but no next target to escalate to",
    ]
    assert code == 0
    assert out[:-1] == warnings
    assert out[-1].endswith(", 6 warnings") and out[-1].startswith(f"{path}: ok — 4 rules")
    code, out = check(path, capsys, "--strict")
    assert (code, out) == (1, warnings)


@pytest.mark.parametrize(
    ("earlier", "later", "shadowed"),
    [
        ("{keywords: [refund]}", "{keywords: [refunds, refund please]}", True),
        ("{keywords: [refund]}", "{keywords: [refund, chargeback]}", False),
        ("{keywords: [refund]}", "{all_keywords: [refund, card]}", True),
        ("{all_keywords: [refund, card]}", "{all_keywords: [card, refunds]}", True),
        ("{all_keywords: [refund, card]}", "{keywords: [refund]}", False),
        ("{channel: [sms, email]}", "{channel: sms, keywords: [x]}", True),
        ("{channel: sms}", "{channel: [sms, email]}", False),
        ("{contact.tier: [vip, gold]}", "{contact.tier: vip, new_contact: true}", True),
        ("{new_contact: true}", "{new_contact: false}", False),
        ("{regex: 'a+'}", "{regex: 'a+', channel: sms}", True),
        ("{subject_keywords: [发票]}", "{subject_keywords: [增值税发票]}", True),
        ("{subject_keywords: [发票]}", "{keywords: [发票]}", False),
    ],
)
def test_shadowing_is_found_only_when_the_earlier_rule_always_matches_first(
    earlier: str, later: str, shadowed: bool
) -> None:
    text = (
        "version: 1\nqueues: {general: {}}\nagents: {a: {}}\ndefaults: {targets: [{queue: general}]}\nrules:\n"
        f"  - name: earlier\n    when: {earlier}\n    targets: [{{queue: general}}]\n"
        f"  - name: later\n    when: {later}\n    targets: [{{queue: general}}]\n"
    )
    found = [w for w in lint(parse_rules(text, path="r.yaml")) if "can never match" in w]
    assert bool(found) is shadowed, found


def test_the_shipped_rules_are_clean_even_when_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(ROOT / "config" / "routing.yaml", capsys, "--strict")
    assert code == 0, out
    assert len(out) == 1 and ": ok — " in out[0]


def test_the_installed_command_runs_the_check(write_rules: Callable[..., Path]) -> None:
    path = write_rules(variant("      - {queue: general}\n", "      - {queue: genral}\n"))
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "rules", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:21: rule 'payments-zh': target 2: unknown queue 'genral' (queues: payments-zh, general)"
    ]
    assert result.stderr.strip() == f"{path}: 1 error"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(VALID)), max_size=4),
    inserts=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(VALID)),
            st.sampled_from(
                [
                    "- ",
                    ": ",
                    "{",
                    "]",
                    "\n  ",
                    "\t",
                    "*a",
                    "&a ",
                    "!!python/object ",
                    "~",
                    "null",
                    "[]",
                    "{}",
                    "<<: ",
                    "'",
                    '"',
                    "2026-13-01",
                    "1e9",
                    "-1",
                    "true",
                    "é",
                    "付款",
                    "\\x00",
                ]
            ),
        ),
        max_size=4,
    ),
)
def test_any_broken_file_gives_rules_errors_never_a_crash(cuts: list[int], inserts: list[tuple[int, str]]) -> None:
    text = VALID
    for cut in sorted(cuts, reverse=True):
        text = text[:cut] + text[cut + 7 :]
    for at, piece in sorted(inserts, reverse=True):
        text = text[:at] + piece + text[at:]
    try:
        rules = parse_rules(text, path="r.yaml")
    except RulesError as exc:
        assert exc.errors and all(e.startswith("r.yaml:") and e.split(":")[1].isdigit() for e in exc.errors)
        return
    lint(rules)  # a file that loads also lints without crashing
