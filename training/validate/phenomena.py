"""The phenomena the world should reproduce, each a prediction tested by contrasting conditions.

A ``Condition`` is a world in which the local agents learn: a scenario, a reward design,
the scripted centre, world overrides, the scripted baselines evaluated beside the
learned agents and held-out variants. A ``Check`` compares one metric between two
``Side``s (a condition, a variant and an agent) or against a constant, seed by seed;
a ``Phenomenon`` is a prediction from the literature and the checks that test it.
``CONDITIONS`` and ``PHENOMENA`` are the table; ``check_table`` holds it to itself
(every condition named exists, every agent a check reads is evaluated in its condition).

A Side's ``agent`` None (or a name holding ``{agent}``) is filled in per effect: the
learned locals for the learned effect, the check's ``scripted`` agent for the scripted
one; any other name (``"prescribed"``) is the same agent in both effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from target_gaming.envs.target_gaming import make_config

from ..compare.grid import BASELINES, FRESH, LEARNED
from ..compare.report import VALUES
from ..evaluation.rollout import FRONTLINE

RELATIONS = (">", "<", "tie", "at_most")
AGENT = "{agent}"  # in a Side's agent: the check's agent (learned, or its scripted agent)
SCRIPTED = "myopic_best_response"  # the scripted agent of a check unless it names another
KINDS = ("learned", "scripted")  # the two effects of a check


@dataclass(frozen=True)
class Condition:
    """A world the local agents learn in; ``match_target_level_of`` names a condition whose
    learned agents' mean ``target_level`` (per seed) becomes this one's ``target_default``."""

    name: str
    scenario: str
    design: str
    centre_policy: str = "fixed_targets"
    overrides: dict[str, Any] = field(default_factory=dict)
    baselines: tuple[str, ...] = BASELINES
    held_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    timesteps_scale: float = 1.0
    match_target_level_of: str | None = None


@dataclass(frozen=True)
class Side:
    """One side of a check: a condition, a variant of it, and an agent (see the module)."""

    condition: str
    variant: str = FRESH
    agent: str | None = None

    def agent_for(self, who: str) -> str:
        """The agent read for the effect of ``who`` (``learned`` or a scripted agent)."""
        return (self.agent or AGENT).replace(AGENT, who)


@dataclass(frozen=True)
class Check:
    """``metric`` of ``left`` minus that of ``right`` (``right_metric`` of it, if given; or a
    constant), per seed; it holds if the 95% interval of the effect's IQM over seeds lies
    above ``margin`` (``>``), below ``-margin`` (``<``), inside [-margin, margin]
    (``tie``) or below ``margin`` (``at_most``: no larger than the margin, and perhaps
    negative). ``scripted`` is the scripted agent of the second effect (None: none)."""

    name: str
    metric: str
    left: Side
    right: Side | float
    relation: str
    margin: float = 0.0
    scripted: str | None = SCRIPTED
    note: str = ""
    right_metric: str | None = None

    @property
    def other_metric(self) -> str:
        """The metric read on the right side."""
        return self.right_metric or self.metric

    def kinds(self) -> tuple[str, ...]:
        return KINDS if self.scripted is not None else KINDS[:1]

    def who(self, kind: str) -> str:
        """The agent that ``kind`` (learned, scripted) fills in."""
        return LEARNED if kind == "learned" else str(self.scripted)

    def expected(self) -> str:
        """What the effect must do to hold, in words: ``> 0``, ``within ±0.01``."""
        return {
            ">": f"> {self.margin:g}",
            "<": f"< {-self.margin:g}" if self.margin else "< 0",
            "tie": f"within ±{self.margin:g}",
            "at_most": f"at most {self.margin:g}",
        }[self.relation]

    def sides(self) -> tuple[Side, ...]:
        return (self.left, self.right) if isinstance(self.right, Side) else (self.left,)

    def comparison(self) -> str:
        """The check in words: ``gaming_share: targets > audited``."""
        left = _side_text(self.left, self.metric)
        if isinstance(self.right, Side):
            right = _side_text(self.right, self.other_metric)
        else:
            right = f"{self.right:g}"
        relation = {
            "tie": f"ties with (±{self.margin:g})",
            "at_most": f"exceeds by at most {self.margin:g}",
        }.get(self.relation, self.relation)
        return f"{left} {relation} {right}"


def _side_text(side: Side, metric: str) -> str:
    where = side.condition if side.variant == FRESH else f"{side.condition}/{side.variant}"
    agent = "" if side.agent in (None, AGENT) else f" ({side.agent.replace(AGENT, 'agent')})"
    return f"{metric} of {where}{agent}"


@dataclass(frozen=True)
class Phenomenon:
    name: str
    title: str
    prediction: str
    source: str
    checks: tuple[Check, ...]
    # metrics the report tabulates for each of its conditions (learned agents and the
    # checks' scripted agents, fresh seeds); none: no such table
    table: tuple[str, ...] = ()

    def conditions(self) -> tuple[str, ...]:
        """The conditions its checks read, in order of first mention."""
        names = (side.condition for check in self.checks for side in check.sides())
        return tuple(dict.fromkeys(names))


def phenomenon_verdict(verdicts: list[str]) -> str:
    """``holds`` if every learned check holds, ``fails`` if none does, ``partly`` otherwise."""
    held = sum(v == "holds" for v in verdicts)
    if verdicts and held == len(verdicts):
        return "holds"
    return "fails" if held == 0 else "partly"


# ---- the table ---------------------------------------------------------------------------

_JUG_BASELINES = (
    "honest",
    "silo",
    "honest+honest+honest+silo",
    "learned+learned+learned+silo",
    "myopic_best_response",
)
_GRESHAM_HELD_OUT = {"knights": {"knight_share": 1.0}, "knaves": {"knight_share": 0.0}}
_JUG_SCALE = 4.0  # per_domain worlds: 24 agents each, so more agent-steps
# Holding back pays only where effort is worth saving. At the default effort cost (0.1) a
# unit of effort buys far more pay than it costs, under a ratchet too, so theory predicts
# little holding back there; bunching and the ratchet are tested where effort costs 0.4
# (docs/model.md, "Effort cost").
_COSTLY_EFFORT = {"effort_cost": 0.4}
# The prescription lever on, under audits (its inspections); the local choice conditions have
# it too, with a centre that prescribes nothing, so the pair differs only in the centre.
_LEVER = {"prescription": True}
_PRESCRIPTION_BASELINES = ("honest", "prescribed", "myopic_best_response")
# Target cascades under audits (what they reach is part of the claim), at the depths of the
# source paper (17 for health, 34 for education) against headline targets only (M = 1: the
# same frontline tier with one frontline target per headline target, so every condition
# reports the frontline metrics); in whitehall and where localities differ.
_DEPTHS = {"headline_only": 1, "cascade_17": 17, "cascade_34": 34}
_CASCADE_WORLDS = {
    "": {
        "headline_only": "whitehall",
        "cascade_17": "cascade_health",
        "cascade_34": "cascade_education",
    },
    "_coalfield": dict.fromkeys(_DEPTHS, "coalfield_seaside"),
}
# Where every locality is a knight (motivation 1: it values the unmeasured domains too): the
# focus a cascade imposes shows only where the locality would spread its delivery itself;
# knaves under threshold pay put nearly all of it on the measured domains already.
_KNIGHTS = {"knight_share": 1.0}

CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition(
            "targets",
            "whitehall",
            "targets",
            baselines=("honest", "myopic_best_response", "gamer", "measured_only"),
        ),
        Condition("audited", "whitehall", "audited_targets"),
        Condition("rotating", "whitehall", "rotating_basket"),
        Condition("flat", "whitehall", "flat_pay"),
        Condition("costly_gaming", "whitehall", "targets", overrides={"gamma": 0.05}),
        Condition("targets_costly", "whitehall", "targets", overrides=_COSTLY_EFFORT),
        Condition("linear_costly", "whitehall", "linear", overrides=_COSTLY_EFFORT),
        Condition(
            "ratchet", "whitehall", "linear", centre_policy="ratchet", overrides=_COSTLY_EFFORT
        ),
        Condition(
            "ratchet_matched",
            "whitehall",
            "linear",
            overrides=_COSTLY_EFFORT,
            match_target_level_of="ratchet",
        ),
        Condition(
            "coalfield",
            "coalfield_seaside",
            "oracle_outcomes",
            baselines=("honest", "prescribed"),
        ),
        Condition(
            "homogeneous", "homogeneous", "oracle_outcomes", baselines=("honest", "prescribed")
        ),
        *(
            Condition(
                f"jug_{k}",
                f"jug_{k}",
                "targets",
                baselines=_JUG_BASELINES,
                timesteps_scale=_JUG_SCALE,
            )
            for k in (1, 2, 3, 4)
        ),
        Condition(
            "jug_2_pooled",
            "jug_2",
            "pooled_budget",
            baselines=_JUG_BASELINES,
            timesteps_scale=_JUG_SCALE,
        ),
        Condition("gresham_targets", "gresham", "targets", held_out=_GRESHAM_HELD_OUT),
        Condition("gresham_audited", "gresham", "audited_targets", held_out=_GRESHAM_HELD_OUT),
        *(
            Condition(
                f"{regime}_{scenario.split('_')[0]}",
                scenario,
                "audited_targets",
                centre_policy=centre,
                overrides=_LEVER,
                baselines=_PRESCRIPTION_BASELINES,
            )
            for scenario in ("coalfield_seaside", "homogeneous")
            for regime, centre in (("choice", "fixed_targets"), ("prescribed", "prescriptive"))
        ),
        *(
            Condition(
                f"{depth}{suffix}",
                worlds[depth],
                "audited_targets",
                # the cascade scenarios set their own depth; whitehall and coalfield take it here
                overrides={} if worlds[depth].startswith("cascade") else {"cascade": m},
            )
            for suffix, worlds in _CASCADE_WORLDS.items()
            for depth, m in _DEPTHS.items()
        ),
        Condition(
            "headline_only_knights",
            "whitehall",
            "audited_targets",
            overrides={**_KNIGHTS, "cascade": 1},
        ),
        Condition("cascade_17_knights", "cascade_health", "audited_targets", overrides=_KNIGHTS),
    )
}

_PHENOMENA = (
    Phenomenon(
        "gaming_audits",
        "Gaming and audits",
        "Gaming pays without audits and not with them; audits shrink the Goodhart gap, "
        "and the reported hit rate runs above the true one.",
        'Bevan & Hood (2006) "What\'s measured is what matters"; docs/design-spec.md §7.',
        (
            Check(
                "gaming falls under audits",
                "gaming_share",
                Side("targets"),
                Side("audited"),
                ">",
            ),
            Check(
                "the Goodhart gap falls under audits",
                "goodhart_gap",
                Side("targets"),
                Side("audited"),
                ">",
            ),
            Check("agents game under targets", "gaming_share", Side("targets"), 0.02, ">"),
            Check(
                "reported hits exceed true hits",
                "target_hit_rate",
                Side("targets"),
                Side("targets"),
                ">",
                right_metric="true_hit_rate",
            ),
        ),
    ),
    Phenomenon(
        "effort_substitution",
        "Effort substitution",
        "What is not measured is neglected; randomised measures cut neglect and gaming.",
        "Holmström & Milgrom (1991), multitask principal-agent; Smith (1995), tunnel vision.",
        (
            Check(
                "unmeasured domains are neglected",
                "neglect",
                Side("targets"),
                0.05,
                ">",
                scripted="measured_only",  # effort substitution itself (the myopic agent
                # spreads its effort: it does not neglect at the default calibration)
            ),
            Check(
                "a rotating basket cuts neglect",
                "neglect",
                Side("rotating"),
                Side("targets"),
                "<",
            ),
            Check(
                "a rotating basket cuts gaming",
                "gaming_share",
                Side("rotating"),
                Side("targets"),
                "<",
            ),
        ),
    ),
    Phenomenon(
        "threshold_bunching",
        "Threshold bunching",
        "Measures bunch just above the target under threshold pay, not under linear pay.",
        "Bevan & Hood (2006), the threshold effect; Oyer (1998).",
        (
            Check(
                "more bunching under threshold pay",
                "bunching",
                Side("targets_costly"),
                Side("linear_costly"),
                ">",
            ),
            Check(
                "measures sit closer above the target",
                "target_margin",
                Side("targets_costly"),
                Side("linear_costly"),
                "<",
            ),
        ),
    ),
    Phenomenon(
        "ratchet",
        "The ratchet effect",
        "Far-sighted agents hold back under a ratchet, against a schedule fixed in advance "
        "at the same mean target level.",
        "Weitzman (1980); Bevan & Hood (2006), the ratchet effect.",
        (
            Check(
                "more slack under the ratchet",
                "slack_share",
                Side("ratchet"),
                Side("ratchet_matched"),
                ">",
                note="myopic_best_response does not look ahead: its effect is the "
                "contrast a learner must beat",
            ),
            Check(
                "measures stay closer to targets under the ratchet",
                "target_margin",
                Side("ratchet"),
                Side("ratchet_matched"),
                "<",
            ),
            Check(
                "lower true welfare under the ratchet",
                "true_welfare",
                Side("ratchet"),
                Side("ratchet_matched"),
                "<",
            ),
        ),
    ),
    Phenomenon(
        "local_knowledge",
        "Local knowledge",
        "Local knowledge beats prescription where localities differ, and ties with it "
        "where they do not.",
        'The source paper: "JUG at local level depends on good local knowledge, autonomy '
        'in decision making".',
        (
            Check(
                "local choice beats prescription where localities differ",
                "true_welfare",
                Side("coalfield"),
                Side("coalfield", agent="prescribed"),
                ">",
                scripted="honest",
            ),
            Check(
                "local choice ties with prescription where localities are alike",
                "true_welfare",
                Side("homogeneous"),
                Side("homogeneous", agent="prescribed"),
                "tie",
                margin=0.01,
                scripted="honest",
            ),
        ),
    ),
    Phenomenon(
        "prescription",
        "A centre that prescribes methods",
        "A centre that prescribes the nationally best approach, inspected at audits, costs "
        "true welfare where localities differ and nothing (or it helps) where they are "
        "alike, against the same world where the centre leaves the choice of method to "
        "them; where the prescribed approach is a locality's worst, gaming becomes the "
        "better use of its effort.",
        'The source paper: "targets can lead government into making detailed policy '
        'prescriptions that limit the autonomy of those delivering policy" (phonics); '
        "docs/model.md, Prescription.",
        (
            Check(
                "prescription costs true welfare where localities differ",
                "true_welfare",
                Side("choice_coalfield"),
                Side("prescribed_coalfield"),
                ">",
            ),
            Check(
                "prescription costs nothing, or helps, where localities are alike",
                "true_welfare",
                Side("choice_homogeneous"),
                Side("prescribed_homogeneous"),
                "at_most",
                margin=0.01,
            ),
            Check(
                "prescription raises gaming where localities differ",
                "gaming_share",
                Side("prescribed_coalfield"),
                Side("choice_coalfield"),
                ">",
                note="myopic_best_response: the odd localities, whose worst approach is "
                "prescribed, deliver almost nothing and game instead (docs/agents.md)",
            ),
        ),
    ),
    Phenomenon(
        "cascade",
        "Targets that cascade to the frontline",
        "Headline targets translated into many frontline targets focus delivery on what is "
        "measured and neglect the rest, give more measures to game than audits can check, so "
        "gaming rises and the headline measures become less genuine, and leave less room for "
        "local judgement, which costs true welfare where localities differ.",
        'The source paper: "A set of targets that exist for literacy are translated into '
        "targets for schools which in turn become targets for teachers ... Consequently, "
        'activity is tightly focused"; "in the case of Health the number of frontline targets '
        "is 17 times greater than the number of headline PSAs and in education it is 34 times "
        'greater"; docs/model.md, Target cascades.',
        (
            Check(
                "a cascade focuses activity on the frontline targets",
                "measured_effort_share",
                Side("cascade_17_knights"),
                Side("headline_only_knights"),
                ">",
                note="the share of the planned delivery spent on frontline targets (the "
                "measured domains' and the target work); a locality can still lower it by "
                "planning more on the unmeasured domains, as learned knights did (0.90 to "
                "0.85) when planning around the frontline cost nothing (docs/model.md, "
                "Target cascades)",
            ),
            Check(
                "a cascade focuses the localities' own plans on the measured domains",
                "planned_measured_share",
                Side("cascade_17_knights"),
                Side("headline_only_knights"),
                ">",
                note="the agencies' plan, before the frontline's target work (which "
                "measured_effort_share adds, so that it rises with no change of plan); where "
                "every locality is a knight, which values the unmeasured domains too: knaves "
                "plan nearly all their delivery on the measured domains with or without a "
                "cascade",
            ),
            Check(
                "a cascade raises the neglect of what is not measured",
                "neglect",
                Side("cascade_17_knights"),
                Side("headline_only_knights"),
                ">",
            ),
            Check(
                "a cascade raises gaming",
                "gaming_share",
                Side("cascade_17"),
                Side("headline_only"),
                ">",
            ),
            Check(
                "a cascade raises gaming where localities differ",
                "gaming_share",
                Side("cascade_17_coalfield"),
                Side("headline_only_coalfield"),
                ">",
            ),
            Check(
                "a deeper cascade makes the headline measures less genuine",
                "goodhart_gap",
                Side("cascade_34"),
                Side("headline_only"),
                ">",
            ),
            Check(
                "a cascade costs true welfare where localities differ",
                "true_welfare",
                Side("headline_only_coalfield"),
                Side("cascade_34_coalfield"),
                ">",
            ),
        ),
        table=(
            "true_welfare",
            "measured_effort_share",
            "planned_measured_share",
            "neglect",
            "gaming_share",
            "goodhart_gap",
            "detections",
            "frontline_targets",
        ),
    ),
    Phenomenon(
        "joined_up",
        "Joined-up working",
        "All agencies partnering beats none, and one silo agency wastes the others' effort; "
        "pooled budgets and pooled localities raise learned partnership; jug_1 gives the "
        "best true welfare and jug_4 the worst.",
        "The source paper, figure 1 (scenarios 1-4).",
        (
            Check(
                "partnering beats silo working",
                "true_welfare",
                Side("jug_1"),
                Side("jug_1", agent="silo"),
                ">",
                scripted="honest",
            ),
            Check(
                "one silo agency costs the others",
                "true_welfare",
                Side("jug_1", agent=f"{AGENT}+{AGENT}+{AGENT}+silo"),
                Side("jug_1"),
                "<",
                scripted="honest",
            ),
            Check(
                "pooled localities raise partnership",
                "joint_partnership",
                Side("jug_1"),
                Side("jug_2"),
                ">",
            ),
            Check(
                "pooled budgets raise partnership",
                "joint_partnership",
                Side("jug_2_pooled"),
                Side("jug_2"),
                ">",
            ),
            Check(
                "jug_1 beats jug_2",
                "true_welfare",
                Side("jug_1"),
                Side("jug_2"),
                ">",
                scripted="honest",
            ),
            Check(
                "jug_1 beats jug_3",
                "true_welfare",
                Side("jug_1"),
                Side("jug_3"),
                ">",
                scripted="honest",
            ),
            Check(
                "jug_2 beats jug_4",
                "true_welfare",
                Side("jug_2"),
                Side("jug_4"),
                ">",
                scripted="honest",
            ),
            Check(
                "jug_3 beats jug_4",
                "true_welfare",
                Side("jug_3"),
                Side("jug_4"),
                ">",
                scripted="honest",
            ),
        ),
    ),
    Phenomenon(
        "genuine_improvement",
        "Genuine improvement",
        "Targets raise true outcomes where gaming is audited or costly, against a control "
        "with no performance pay.",
        'Propper, Sutton, Whitnall & Windmeijer (2010) "Incentives and targets in hospital '
        'care"; Bevan & Hood (2006).',
        (
            Check(
                "audited targets improve on no pay",
                "measured_change",
                Side("audited"),
                Side("flat"),
                ">",
            ),
            Check(
                "targets with costly gaming improve on no pay",
                "measured_change",
                Side("costly_gaming"),
                Side("flat"),
                ">",
            ),
        ),
    ),
    Phenomenon(
        "gresham",
        "Gresham's law of motivation",
        "Knights game less than knaves, and knaves game less when audited.",
        'Le Grand (2003) "Motivation, Agency and Public Policy".',
        (
            Check(
                "knaves game more than knights",
                "gaming_share",
                Side("gresham_targets", "knaves"),
                Side("gresham_targets", "knights"),
                ">",
            ),
            Check(
                "audits cut the knaves' gaming",
                "gaming_share",
                Side("gresham_audited", "knaves"),
                Side("gresham_targets", "knaves"),
                "<",
            ),
        ),
    ),
)
PHENOMENA: dict[str, Phenomenon] = {p.name: p for p in _PHENOMENA}

# The reported hit rate beside the true one, in this condition (learned and each baseline).
HIT_RATES = "targets"
HIT_RATE_METRICS = ("target_hit_rate", "true_hit_rate")


def agents_read(check: Check, side: Side) -> list[str]:
    """The agents of ``side`` that ``check``'s effects read (one per kind, deduplicated)."""
    return list(dict.fromkeys(side.agent_for(check.who(kind)) for kind in check.kinds()))


def _check_metric(where: str, metric: str, cond: Condition) -> None:
    """Refuse a metric that no world has, or a cascade's metric in a condition without one."""
    if metric not in VALUES + FRONTLINE:
        raise ValueError(
            f"{where}: metric = {metric!r} is not allowed: one of {', '.join(VALUES + FRONTLINE)}"
        )
    if metric in FRONTLINE and make_config(cond.scenario, **cond.overrides).cascade is None:
        raise ValueError(
            f"{where}: metric = {metric!r} is not allowed in condition {cond.name}, whose world "
            "has no cascade: a metric of every world, or a condition with a cascade"
        )


def check_table(
    phenomena: dict[str, Phenomenon] = PHENOMENA, conditions: dict[str, Condition] = CONDITIONS
) -> None:
    """Raise ValueError (one line) where the table contradicts itself: a condition named
    that does not exist, an agent, a variant or a metric that a check (or a phenomenon's
    table) reads and its condition does not evaluate, a relation or margin that is not
    allowed."""
    for cond in conditions.values():
        source = cond.match_target_level_of
        if source is not None and (source not in conditions or source == cond.name):
            raise ValueError(
                f"condition {cond.name}: match_target_level_of = {source!r} is not allowed: "
                f"another condition, one of {', '.join(conditions)}"
            )
        if source is not None and conditions[source].match_target_level_of is not None:
            raise ValueError(
                f"condition {cond.name}: match_target_level_of = {source!r} is not allowed: "
                "a condition that is not itself matched"
            )
    for phen in phenomena.values():
        for check in phen.checks:
            where = f"phenomenon {phen.name}, check {check.name!r}"
            if check.relation not in RELATIONS:
                raise ValueError(
                    f"{where}: relation = {check.relation!r} is not allowed: one of {RELATIONS}"
                )
            if check.margin < 0:
                raise ValueError(f"{where}: margin = {check.margin!r} is not allowed: >= 0")
            for side in check.sides():
                if side.condition not in conditions:
                    raise ValueError(
                        f"{where}: condition = {side.condition!r} is not allowed: "
                        f"one of {', '.join(conditions)}"
                    )
                cond = conditions[side.condition]
                if side.variant != FRESH and side.variant not in cond.held_out:
                    raise ValueError(
                        f"{where}: variant = {side.variant!r} is not allowed: "
                        f"{FRESH} or a held-out variant of {cond.name} ({list(cond.held_out)})"
                    )
                for agent in agents_read(check, side):
                    if agent != LEARNED and agent not in cond.baselines:
                        raise ValueError(
                            f"{where}: agent = {agent!r} is not allowed: "
                            f"{LEARNED} or a baseline of {cond.name} ({', '.join(cond.baselines)})"
                        )
            for side, metric in zip(check.sides(), (check.metric, check.other_metric)):
                _check_metric(where, metric, conditions[side.condition])
        for metric in phen.table:
            for name in phen.conditions():
                _check_metric(f"phenomenon {phen.name}, table", metric, conditions[name])
