"""Every registered entry builds and runs; the docs name every entry and field.

The numbers the docs state (defaults, ranges, sizes, design and scenario tables)
are read from the docs and compared with the code, and every repository path
the docs cite exists.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from target_gaming.envs import ENV_ID, target_gaming_v2
from target_gaming.envs.target_gaming import (
    CONFIG_FIELDS,
    DESIGNS,
    METRICS,
    SCENARIOS,
    World,
    WorldConfig,
    get_scenario,
    observe,
)
from target_gaming.envs.target_gaming.config import _RANGES, AGENCY_MODES, CENTRE_MODES
from target_gaming.envs.target_gaming.core import systematic_sample
from target_gaming.envs.target_gaming.metrics import (
    DETECTION_FLOOR,
    FRONTLINE_METRICS,
    LOCALITY_METRICS,
)
from target_gaming.training.sb3 import CENTRE_ENV_ID

ROOT = Path(__file__).resolve().parents[1]
MODEL_MD = (ROOT / "docs" / "model.md").read_text()
PROSE = " ".join(MODEL_MD.split())  # whitespace collapsed, for sentences that wrap
N = r"\d+(?:\.\d+)?"  # a number as the docs write it


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_every_scenario_and_design_builds_and_steps(scenario, design):
    env = target_gaming_v2.parallel_env(scenario=scenario, design=design, max_cycles=5)
    obs, _ = env.reset(seed=0)
    while env.agents:
        obs, rewards, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert all(np.isfinite(r) for r in rewards.values())
    # a cascade's worlds add the frontline metrics; every other world has the base set
    expected = set(METRICS) | (set(FRONTLINE_METRICS) if scenario.startswith("cascade") else set())
    assert set(infos[env.possible_agents[0]]) == expected
    assert set(env.episode_metrics()) == expected


@pytest.mark.parametrize("centre_reward", ["political", "welfare"])
def test_both_centre_rewards_work_for_departments_and_a_coordinated_centre(centre_reward):
    for scenario in ("whitehall", "jug_3"):
        env = target_gaming_v2.parallel_env(scenario=scenario, centre_reward=centre_reward)
        env.reset(seed=1)
        _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
        assert all(np.isfinite(r) for r in rewards.values())


def test_layouts_name_every_component_of_every_space():
    for scenario in ("whitehall", "jug_4"):
        env = target_gaming_v2.parallel_env(scenario=scenario)
        for agent in env.possible_agents:
            layout = env.action_layout(agent)
            assert len(layout) == env.action_space(agent).shape[0]
            assert len(set(layout)) == len(layout)
            names = env.observation_layout(agent)
            assert len(names) == env.observation_space(agent).shape[0]


def test_the_env_docstring_names_every_design_scenario_metric_and_argument():
    doc = target_gaming_v2.__doc__
    for name in [*DESIGNS, *SCENARIOS, *METRICS, "centre_reward", "max_cycles", "render_mode"]:
        assert f"``{name}``" in doc, name


def test_the_env_docstring_shapes_match_the_spaces():
    doc = target_gaming_v2.__doc__
    env = target_gaming_v2.parallel_env()
    dep = target_gaming_v2.parallel_env(scenario="jug_4")
    assert f"local {env.action_space('local_0').shape[0]} (unitary)" in doc
    assert f"local {env.observation_space('local_0').shape[0]} (unitary)" in doc
    assert f"centre {env.observation_space('centre_0').shape[0]}" in doc
    assert f"department {dep.observation_space('department_0').shape[0]}" in doc
    assert f"State shape        | {env.state_space.shape[0]} " in doc


# ---- docs/model.md: numbers read from the page and compared with the code ------------


def _section(text: str, heading: str) -> str:
    """The body of the ``## `` section whose heading starts with ``heading``."""
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _table(section: str, header: list[str]) -> list[list[str]]:
    """The rows (cells stripped) of the first table of ``section`` with this header."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    assert rows and rows[0] == header, (rows[:1], header)
    body = rows[2:]  # after the header and the --- separator
    assert body and all(len(row) == len(header) for row in body), body
    return body


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in [*parts, text[start:]]]


def _literal(text: str):
    """A value as the docs write it: 6 (int), 0.12 (float), True, None, unitary, (a, b)."""
    text = text.strip()
    quoted = re.fullmatch(r"`([^`]*)`(?: \(.*\))?", text)  # `None` (first two domains)
    if quoted:
        text = quoted.group(1)
    if text.startswith("(") and text.endswith(")"):
        return tuple(_literal(part) for part in _split_top(text[1:-1]))
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    if re.fullmatch(r"-?(\d+\.?\d*|\.\d+)(e-?\d+)?", text):
        return ast.literal_eval("0" + text if text.startswith(".") else text)
    assert re.fullmatch(r"[A-Za-z_]\w*", text), f"cannot read {text!r} as a value"
    return text


def _same(doc, code) -> bool:
    """Equal and of the same type (an int default must be written as an int)."""
    if isinstance(code, tuple):
        return (
            isinstance(doc, tuple)
            and len(doc) == len(code)
            and all(_same(d, c) for d, c in zip(doc, code))
        )
    return type(doc) is type(code) and doc == code


CONFIG_ROWS = _table(
    _section(MODEL_MD, "8. Configuration (`WorldConfig`, frozen and validated)"),
    ["field", "default", "allowed", "meaning"],
)


def _config_table() -> dict[str, tuple[str, str]]:
    """field -> (default as written, allowed as written), one entry per field named."""
    out: dict[str, tuple[str, str]] = {}
    for field_cell, default, allowed, _ in CONFIG_ROWS:
        names = re.findall(r"`(\w+)`", field_cell)
        assert names and field_cell == ", ".join(f"`{n}`" for n in names), field_cell
        values = _split_top(default) if len(names) > 1 else [default]
        assert len(values) == len(names), (field_cell, default)
        for name, value in zip(names, values):
            out[name] = (value, allowed)
    return out


def test_the_config_table_names_every_field_exactly_once():
    named = Counter(n for row in CONFIG_ROWS for n in re.findall(r"`(\w+)`", row[0]))
    assert sorted(n for n, c in named.items() if c > 1) == []
    assert sorted(set(named) - set(CONFIG_FIELDS)) == [], "unknown fields in the table"
    assert sorted(set(CONFIG_FIELDS) - set(named)) == [], "fields missing from the table"


@pytest.mark.parametrize("field", CONFIG_FIELDS)
def test_the_config_table_gives_each_default_as_the_code_has_it(field):
    written, _ = _config_table()[field]
    value = getattr(WorldConfig(), field)
    assert _same(_literal(written), value), f"{field}: docs say {written}, code has {value!r}"


@pytest.mark.parametrize("field", sorted(_RANGES))
def test_the_config_table_gives_each_range_as_the_code_checks_it(field):
    _, allowed = _config_table()[field]
    match = re.match(r"(int )?\[([^,\]]+), ([^\]]+)\]", allowed)
    assert match, f"{field}: no [low, high] range in {allowed!r}"
    low, high, integer = _RANGES[field]
    assert (match.group(1) is not None) == integer, f"{field}: 'int' is {integer}"
    assert float(match.group(2)) == low and float(match.group(3)) == high, (field, allowed)


def test_the_config_table_lists_the_allowed_modes():
    table = _config_table()
    for field, allowed in (("agency_mode", AGENCY_MODES), ("centre_mode", CENTRE_MODES)):
        assert tuple(re.findall(r"`(\w+)`", table[field][1])) == allowed, field


def test_the_derived_properties_named_exist():
    sentence = re.search(r"The derived properties are (.*?)\.\s", PROSE).group(1)
    names = re.findall(r"`(\w+)`", sentence)
    assert len(names) > 10
    defaults = WorldConfig()
    for name in names:
        getattr(defaults, name)


def test_section_1_sizes_and_spillovers_are_the_defaults():
    cfg = WorldConfig()
    for symbol, value in (
        ("L", cfg.n_localities),
        ("K", cfg.n_domains),
        ("R", cfg.n_approaches),
        ("T", cfg.horizon),
        ("P", cfg.review_period),
    ):
        assert re.findall(rf"`{symbol}=(\d+)`", PROSE) == [str(value)], symbol
    domains = re.search(r"`K=\d+` \(`([^`]*)`\)", PROSE).group(1)
    assert tuple(domains.split(", ")) == cfg.domains
    ebar = re.search(r"`Ebar\[k,:\] = (\([^)]*\))`", PROSE).group(1)
    assert _same(_literal(ebar), cfg.approach_effectiveness)
    first = re.search(r"The headline domains default to the first (\w+) \(([^)]*)\)", PROSE)
    assert first.group(1) == "two" and first.group(2).split(", ") == [
        d for d, h in zip(cfg.domains, cfg.headline_mask) if h
    ]
    spill = " ".join(_section(MODEL_MD, "1. Entities").split())
    rows = dict(re.findall(r"(\w+) `(\([^)]*\))`", spill))
    assert list(rows) == list(cfg.domains)
    for k, domain in enumerate(cfg.domains):
        np.testing.assert_array_equal(_literal(rows[domain]), cfg.spillover_matrix[k])
    other = float(re.search(rf"Other domain sets get ({N}) off the diagonal", PROSE).group(1))
    s = WorldConfig(domains=("a", "b", "c")).spillover_matrix
    np.testing.assert_array_equal(s, other * (1 - np.eye(3)))


def test_section_2_and_7_sizes_match_the_spaces():
    unitary = target_gaming_v2.parallel_env()
    silo = target_gaming_v2.parallel_env(scenario="jug_4")
    local = re.search(r"D is (\d+) for a unitary agent and (\d+) for a per_domain agency", PROSE)
    assert (int(local.group(1)), int(local.group(2))) == (
        unitary.action_space("local_0").shape[0],
        silo.action_space("local_0").shape[0],
    )
    centre = re.search(r"D is (\d+) for the centre and (\d+) for a department", PROSE)
    assert (int(centre.group(1)), int(centre.group(2))) == (
        unitary.action_space("centre_0").shape[0],
        silo.action_space("department_0").shape[0],
    )
    obs = re.search(
        r"the observation is (\d+) for a unitary local, (\d+) for a per_domain agency, "
        r"(\d+) for the centre and (\d+) for a department",
        PROSE,
    )
    assert tuple(int(g) for g in obs.groups()) == (
        unitary.observation_space("local_0").shape[0],
        silo.observation_space("local_0").shape[0],
        unitary.observation_space("centre_0").shape[0],
        silo.observation_space("department_0").shape[0],
    )
    state = re.search(r"`state\(\)` has dimension (\d+)", PROSE)
    assert int(state.group(1)) == unitary.state_space.shape[0]


def test_section_4_audit_numbers_are_the_code_s():
    cfg = WorldConfig()
    budget = re.search(r"`n_audits = max\(1, round\(audit_budget_share \* L\)\)` \((\d+) by", PROSE)
    assert int(budget.group(1)) == cfg.n_audits
    floors = re.findall(rf"DETECTION_FLOOR = ({N})|found(?: inflation)? > ({N})", PROSE)
    assert len(floors) >= 3
    assert {float(a or b) for a, b in floors} == {DETECTION_FLOOR}
    example = re.search(rf"`random` at ({N}) with L=(\d+) audits exactly (\d+) localities", PROSE)
    rate, n_loc, n = float(example.group(1)), int(example.group(2)), int(example.group(3))
    assert (rate, n_loc) == (cfg.audit_rate, cfg.n_localities)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert systematic_sample(np.full((1, n_loc, 1), rate), rng).sum() == n


def test_every_config_value_quoted_beside_a_name_is_the_default():
    cfg = WorldConfig()
    quoted = re.findall(rf"`(\w+)` \((-?{N})\)", PROSE)  # e.g. `basket_size` (2)
    assert len(quoted) >= 4
    for name, written in quoted:
        assert _same(_literal(written), getattr(cfg, name)), (name, written)
    fines = re.findall(rf"\bF`? = ({N})", PROSE)
    assert fines and {_literal(f) for f in fines} == {int(cfg.sanction)}
    assert cfg.sanction == int(cfg.sanction)
    changed = re.findall(rf"`(\w+)` ({N}) -> ({N})", PROSE)  # calibration changes
    assert len(changed) >= 2
    for name, _, new in changed:
        assert _same(_literal(new), getattr(cfg, name)), (name, new)


_PAY_WORDS = {
    "threshold": "threshold",
    "linear": "`linear_slope * (m - tau)`",
    "league_table": "rank_i",
    "priorities": "`linear_slope * K * w[i,k] * (m - tau)`",
    "oracle": "oracle_scale",
    "flat": "no performance pay",
}


def test_the_design_table_matches_the_designs():
    rows = _table(
        _section(MODEL_MD, "5. Rewards"),
        ["design", "pay rule (per cell, then pooled)", "measures", "audits", "pooling"],
    )
    assert sorted(row[0] for row in rows) == sorted(f"`{d}`" for d in DESIGNS)
    for name, pay, measures, audits, pooling in rows:
        design = DESIGNS[name.strip("`")]
        assert _PAY_WORDS[design.pay] in pay, (name, pay)
        assert measures.split(",")[0].split(" ")[0] == design.measures, (name, measures)
        regime = re.match(r"\w+", audits).group(0)
        if regime == "random" and "`audit_rate_low`" in audits:
            regime = "random_low"
        assert regime == design.audits, (name, audits)
        assert pooling == design.pooling, name


def test_the_metrics_table_matches_metrics():
    rows = _table(
        _section(MODEL_MD, "6. Metrics"), ["metric", "per-locality formula", "national", "episode"]
    )
    every = {**METRICS, **FRONTLINE_METRICS}  # the base metrics, then a cascade's
    assert [row[0].strip("`") for row in rows] == list(every)
    for name, _, national, episode in rows:
        name = name.strip("`")
        assert episode == every[name], name
        if name not in LOCALITY_METRICS and name not in FRONTLINE_METRICS:
            assert national == "-", name
        elif name in ("audits", "detections", "sanctions"):
            assert national.startswith("sum"), name
        else:
            assert national in ("mean", "pooled over all cells"), name


def test_the_scenario_table_matches_the_scenarios():
    rows = _table(_section(MODEL_MD, "7. Scenarios"), ["scenario", "overrides", "stands for"])
    assert [re.match(r"`(\w+)`", row[0]).group(1) for row in rows] == list(SCENARIOS)
    for name, overrides, _ in rows:
        scenario = SCENARIOS[re.match(r"`(\w+)`", name).group(1)]
        written = {}
        if overrides != "none":
            for pair in overrides.strip("`").split(", "):
                key, value = pair.split("=")
                written[key] = _literal(value)
        assert written.keys() == scenario.overrides.keys(), name
        for key, value in scenario.overrides.items():
            assert _same(written[key], value), (name, key)


def test_league_table_pays_nothing_to_agencies_of_an_unmeasured_domain():
    """jug_2: per_domain agencies; only the headline domains (health, education) count."""
    cfg = get_scenario("jug_2").config(sigma_x=0.0)
    world = World(cfg, "league_table")
    rng = np.random.default_rng(3)
    state = world.reset(rng)
    idle = np.zeros((1, cfg.n_locals, cfg.local_action_dim))  # all slack: no cost, no good
    centre = np.zeros((1, cfg.n_centres, len(observe.centre_action_layout(cfg, 0))))
    rewards = world.step(state, idle, centre, rng).local_rewards[0]
    pay = rewards.reshape(cfg.n_localities, cfg.n_agencies)  # (L, K): agency k of locality i
    measured = cfg.headline_mask
    assert measured.tolist() == [True, True, False, False]
    np.testing.assert_array_equal(pay[:, ~measured], 0.0)
    ranks = np.arange(cfg.n_localities) / (cfg.n_localities - 1)
    for k in np.flatnonzero(measured):  # a permutation of the ranks i / (L - 1)
        np.testing.assert_allclose(np.sort(pay[:, k]), ranks, atol=1e-12)


# ---- paths and citations in the docs -----------------------------------------------------

DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "results" / "README.md"]
DOCS.append(ROOT / "benchmarks" / "README.md")
# Backticked names that look like paths but are not files of the repository: what runs
# write (in ignored folders or a run's own folder), registry ids and tensorboard tags.
NOT_REPO_PATHS = {
    "compare-quick/runs/",
    "runs/rllib-joint/",
    "runs/centre-controls/",
    "checkpoints/",
    "tensorboard/",
    "centre_policy.rllib/",
    "local_policy.rllib/",
    "config.json",
    "rllib.json",
    "progress.csv",
    "curves.csv",  # a training run's learning curves, in its own folder
    "metrics/true_welfare",
    ENV_ID,  # the registered ids
    CENTRE_ENV_ID,
    "t/T",  # a formula
    "validation/runs/",  # the validation's cells, in an ignored folder
}
_PATH = re.compile(r"[\w.-]+(/[\w.-]+)*/?")
_FILE_SUFFIXES = (".md", ".py", ".toml", ".csv", ".json", ".txt", ".png")


def _repo_files() -> list[str]:
    """Files of a clone: tracked, plus untracked ones git does not ignore."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def _cited_paths(text: str) -> list[str]:
    paths = []
    for token in re.findall(r"`([^`\s]+)`", text):
        if not _PATH.fullmatch(token) or token.startswith("."):
            continue  # code, formulas, placeholders like runs/<design>/, dotfiles
        if "/" in token or token.endswith(_FILE_SUFFIXES):
            paths.append(token)
    return paths


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_docs_cite_exists(doc):
    files = _repo_files()
    folders = {str(Path(f).parent) + "/" for f in files}
    folders |= {p for f in files for p in (str(q) + "/" for q in Path(f).parents)}
    names = {Path(f).name for f in files}
    here = str(doc.parent.relative_to(ROOT))
    missing = []
    for path in _cited_paths(doc.read_text()):
        if path in NOT_REPO_PATHS:
            continue
        tries = [path, f"{here}/{path}"] if here != "." else [path]
        found = any(t in files or t.rstrip("/") + "/" in folders for t in tries)
        if "/" not in path.rstrip("/") and not path.endswith("/"):
            found = found or path in names  # a bare file name, e.g. `config.py`
        if not found:
            missing.append(path)
    assert missing == [], f"{doc.name} cites paths the repository does not have: {missing}"


def test_no_text_cites_files_outside_the_repository():
    """The design spec is docs/design-spec.md; nothing points at a shared/ folder or MODEL."""
    outside = re.compile(r"(?<![\w/.~-])shared/|\bMODEL(\.md|:| section)")
    me = Path(__file__).resolve()
    hits = []
    for name in _repo_files():
        path = ROOT / name
        if path.resolve() == me or path.suffix not in ("", ".py", ".md", ".toml", ".txt", ".cfg"):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line):
                hits.append(f"{name}:{n}: {line.strip()}")
    assert hits == []


def test_docs_agents_describes_every_registered_policy():
    from target_gaming.agents import CENTRE_POLICIES, LOCAL_POLICIES

    text = (ROOT / "docs" / "agents.md").read_text()
    for name, cls in {**LOCAL_POLICIES, **CENTRE_POLICIES}.items():
        assert f"| `{name}` | {cls.description} |" in text, name
