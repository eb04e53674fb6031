"""The comparison's overview: one row of headline findings per scenario."""

from __future__ import annotations

from target_gaming.training.compare.overview import anchor, overview_rows, tradeoff_figure
from target_gaming.training.compare.report import VALUES


def _rows(scenario: str, values: dict[str, dict[str, list[float]]]) -> list[dict]:
    rows = []
    for design, metrics in values.items():
        for seed in range(5):
            row = {"scenario": scenario, "design": design, "seed": seed, "agent": "learned"}
            row |= {"variant": "fresh", "centre": "fixed_targets"} | {v: 0.0 for v in VALUES}
            rows.append(row | {m: per_seed[seed] for m, per_seed in metrics.items()})
    return rows


def _spread(centre: float) -> list[float]:
    return [centre + d for d in (-0.01, -0.005, 0.0, 0.005, 0.01)]


def test_the_overview_names_the_best_design_and_the_cuts_with_links(tmp_path):
    summary = _rows(
        "jug_1",
        {
            "targets": {"true_welfare": _spread(0.6), "gaming_share": _spread(0.2)}
            | {"neglect": _spread(0.3), "goodhart_gap": _spread(0.1)},
            "pooled_budget": {"true_welfare": _spread(0.7), "gaming_share": _spread(0.05)}
            | {"neglect": _spread(0.3)},
            "oracle_outcomes": {"true_welfare": _spread(0.9), "neglect": _spread(0.0)},
        },
    )
    sections = [("jug_1", summary, ["targets", "pooled_budget", "oracle_outcomes"])]
    lines = overview_rows(sections, "report.md")
    row = lines[-1]
    assert row.startswith("| `jug_1` | `pooled_budget` [0.700 [")  # not oracle_outcomes
    assert "](report.md#scenario-jug_1)" in row and "overlaps" not in row
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "`pooled_budget`, `oracle_outcomes`"  # cut gaming
    assert cells[3] == "`oracle_outcomes`"  # cut neglect
    assert cells[4].startswith("[0.100 [")
    assert anchor("coalfield_seaside") == "#scenario-coalfield_seaside"
    assert (tmp_path / tradeoff_figure(tmp_path, sections)).stat().st_size > 0


def test_the_readmes_overview_tables_are_the_committed_reports():
    """The README and results/README.md copy the overview of the committed standard
    comparison: each of their rows is the one the committed summary gives."""
    from pathlib import Path

    from target_gaming.training.compare.overview import committed_table

    repo = Path(__file__).resolve().parents[1]
    root = repo / "results" / "compare-standard"
    for readme, link in (
        (repo / "README.md", "results/compare-standard/report.md"),
        (repo / "results" / "README.md", "compare-standard/report.md"),
    ):
        text = readme.read_text()
        for line in committed_table(root, link):
            assert line in text, f"{readme.name} lacks the overview row {line[:60]}..."


def test_the_report_says_where_one_design_is_the_same_experiment_in_two_scenarios():
    from target_gaming.training.compare.report import same_experiments

    pooled = {"true_welfare": _spread(0.7), "gaming_share": _spread(0.05)}
    other = {"true_welfare": _spread(0.6), "gaming_share": _spread(0.2)}
    sections = [
        (
            "jug_1",
            _rows("jug_1", {"pooled_budget": pooled, "targets": other}),
            ["pooled_budget", "targets"],
        ),
        (
            "jug_2",
            _rows("jug_2", {"pooled_budget": pooled, "targets": pooled}),
            ["pooled_budget", "targets"],
        ),
        ("jug_3", _rows("jug_3", {"targets": other}), ["targets"]),
    ]
    assert same_experiments(sections) == [
        ("pooled_budget", "jug_1", "jug_2"),
        ("targets", "jug_1", "jug_3"),
    ]


def test_the_committed_overview_reads_a_grid_of_scenarios_with_and_without_a_cascade(tmp_path):
    """A cascade's metrics are blank in the summary rows of a scenario without one; the
    overview reads such a summary (every scenario gets its row)."""
    import json

    from target_gaming.training.compare.grid import CompareConfig
    from target_gaming.training.compare.overview import committed_table
    from target_gaming.training.compare.report import write_summary

    values = {"true_welfare": _spread(0.6), "gaming_share": _spread(0.1)}
    plain = _rows("whitehall", {"targets": values, "audited_targets": values})
    cascade = [
        r | {"frontline_targets": 17.0, "measured_effort_share": 0.9}
        for r in _rows("cascade_health", {"targets": values, "audited_targets": values})
    ]
    for row in plain + cascade:
        row["episodes"] = 3
    write_summary(tmp_path / "summary.csv", plain + cascade)
    assert ",," in (tmp_path / "summary.csv").read_text()  # the blank cascade metrics
    grid = CompareConfig.from_dict(
        {"scenarios": ["whitehall", "cascade_health"], "designs": ["targets", "audited_targets"]}
    )
    (tmp_path / "comparison.json").write_text(json.dumps(grid.to_dict()))
    lines = committed_table(tmp_path, "report.md")
    assert [line.split("|")[1].strip() for line in lines[-2:]] == [
        "`whitehall`",
        "`cascade_health`",
    ]
