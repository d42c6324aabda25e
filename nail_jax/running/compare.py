"""Comparing groups of runs from their run directories (``nail-jax compare``).

Each run directory holds one or more seeds; directories given the same label form one
group. Per seed, three numbers of the run's metric (``score``; ``eval_return`` for ``rl``),
over its evaluations up to ``max_steps`` env steps:

- ``final``: the last evaluation;
- ``last10``: the mean of the last ten evaluations (all of them if fewer);
- ``auc``: the mean of all evaluations, the area under the learning curve divided by its
  length (evaluations are equally spaced in env steps).

Per group and number: the mean, the sample SD (ddof 1), and the interquartile mean (IQM)
with a 95% percentile stratified-bootstrap CI over seeds (rliable). Per pair of groups: the
difference of the means, the probability of improvement ``P(X > Y)`` (a seed of ``X`` beats
one of ``Y``; ties count half) with its bootstrap CI (rliable), and an exact permutation test
of the difference of the means over every split of the pooled seeds (scipy; Monte Carlo
with 100,000 splits when there are more than a million). Seeds of different runs are not
paired: the tests are for independent samples.

A comparison is refused (:class:`~nail_jax.running.run_dir.RunError`, one line) when its
runs differ in more than the algorithm: any config key that differs within a group, or
between groups that both have it (except ``algo``; an algorithm's own options, such as
``nail.*`` beside AIL, are not compared), the demonstration file's SHA-256 or the score's
expert return, unless the key is allowed (``allow``); also when the runs end at different
env steps (pass ``max_steps`` to cut them at one budget), when a run diverged, when a seed
appears twice in a group, or when a run has no evaluation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pathlib
import warnings
from collections.abc import Sequence

import numpy as np

from nail_jax.running.run_dir import (
    RunError,
    diverged,
    read_metrics,
    read_run_config,
    run_metric,
)
from nail_jax.training.config import config_to_dict

NUMBERS = ("final", "last10", "auc")
EXACT_LIMIT = 1_000_000  # splits enumerated exactly; beyond, Monte Carlo
MONTE_CARLO_SPLITS = 100_000
# keys of config.json (outside its "config") that a comparison also holds equal
RECORDED_KEYS = ("demos_sha256", "expert_return")


@dataclasses.dataclass(frozen=True)
class RunValues:
    """One run directory's per-seed numbers.

    Attributes:
      run_dir: the run directory.
      metric: the metric the numbers are of (``score`` or ``eval_return``).
      seeds: ``[S]`` the seeds (the run's base seed plus the seed index).
      values: ``{number: [S]}`` for each of :data:`NUMBERS`.
      env_steps: the env steps of the last evaluation kept.
      keys: the run's flattened config, with :data:`RECORDED_KEYS` where recorded.
    """

    run_dir: pathlib.Path
    metric: str
    seeds: tuple[int, ...]
    values: dict[str, np.ndarray]
    env_steps: int
    keys: dict


@dataclasses.dataclass(frozen=True)
class Group:
    """The runs of one label: ``values {number: [n]}`` over all their seeds."""

    label: str
    runs: tuple[RunValues, ...]
    seeds: tuple[int, ...]
    values: dict[str, np.ndarray]


def flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; a ``None`` group stays one key."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def seed_numbers(scores: np.ndarray) -> dict[str, float]:
    """The :data:`NUMBERS` of one seed's evaluations ``scores [E]`` (in order, no nan)."""
    return {"final": float(scores[-1]), "last10": float(np.mean(scores[-10:])),
            "auc": float(np.mean(scores))}


def read_run(run_dir: str | pathlib.Path, max_steps: int | None = None) -> RunValues:
    """A run directory's :class:`RunValues`, from its ``config.json``, ``metrics.jsonl``
    and ``summary.json``; evaluations after ``max_steps`` env steps are left out.

    Raises RunError for a directory without a run, a diverged run, or a seed without an
    evaluation up to ``max_steps``.
    """
    run_dir = pathlib.Path(run_dir)
    info = read_run_config(run_dir)
    config = info["config"]
    where = diverged(run_dir)
    if where:
        raise RunError(f"{run_dir}: the run {where} (summary.json); leave it out of the "
                       "comparison, or compare its epochs before with --max-steps")
    metric = run_metric(config.algo)
    records = [r for r in read_metrics(run_dir) if r.get(metric) is not None
               and (max_steps is None or r["env_steps"] <= max_steps)]
    cut = "" if max_steps is None else f" up to {max_steps} env steps"
    values: dict[str, list[float]] = {n: [] for n in NUMBERS}
    seeds, last_steps = [], set()
    for index in range(info["num_seeds"]):
        rows = sorted((r for r in records if r["seed"] == index), key=lambda r: r["epoch"])
        if not rows:
            raise RunError(f"{run_dir}: seed index {index} has no {metric!r} evaluation{cut}")
        for name, value in seed_numbers(np.array([r[metric] for r in rows])).items():
            values[name].append(value)
        seeds.append(info["seed"] + index)
        last_steps.add(rows[-1]["env_steps"])
    if len(last_steps) > 1:
        raise RunError(f"{run_dir}: its seeds' last evaluations are at different env steps "
                       f"({sorted(last_steps)}); pass --max-steps to cut them at one budget")
    keys = flatten(config_to_dict(config))  # today's keys, for runs of older layouts too
    keys.update({k: info[k] for k in RECORDED_KEYS if k in info})
    return RunValues(run_dir, metric, tuple(seeds),
                     {n: np.array(v, np.float64) for n, v in values.items()},
                     last_steps.pop(), keys)


def make_groups(runs: Sequence[RunValues], labels: Sequence[str]) -> list[Group]:
    """Runs with the same label pooled into one :class:`Group`, in first-seen order.

    Raises RunError when a seed appears twice in a group."""
    order = list(dict.fromkeys(labels))
    groups = []
    for label in order:
        members = tuple(r for r, lab in zip(runs, labels, strict=True) if lab == label)
        seeds = tuple(s for r in members for s in r.seeds)
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise RunError(f"group {label!r} has seed(s) {repeated} twice: its runs are "
                           "not independent; give each run of the same seeds its own label")
        values = {n: np.concatenate([r.values[n] for r in members]) for n in NUMBERS}
        groups.append(Group(label, members, seeds, values))
    return groups


def check_comparable(groups: Sequence[Group], allow: Sequence[str] = (),
                     cut: bool = False) -> None:
    """Raises RunError (one line) unless the runs differ in the algorithm alone, or in keys
    of ``allow``; also unless they share their metric and their last evaluation's env steps.
    With ``cut`` (runs cut at ``--max-steps``) ``total_steps`` may differ."""
    runs = [r for g in groups for r in g.runs]
    allowed = {"algo", *allow, *(("total_steps",) if cut else ())}
    metrics = {r.metric for r in runs}
    if len(metrics) > 1:
        raise RunError(f"the runs are judged by different metrics ({sorted(metrics)}): "
                       "compare rl runs with rl runs")
    ends = {r.env_steps for r in runs}
    if len(ends) > 1:
        where = ", ".join(f"{r.run_dir} at {r.env_steps}" for r in runs)
        raise RunError(f"the runs end at different env steps ({where}); pass --max-steps N "
                       "to compare them at one budget")
    for group in groups:  # within a group: every key the same
        for key in sorted(set().union(*(r.keys for r in group.runs)) - allowed):
            found = {json.dumps(r.keys.get(key)) for r in group.runs}
            if len(found) > 1:
                raise RunError(f"the runs of group {group.label!r} differ in {key} "
                               f"({', '.join(sorted(found))}); give them different labels, "
                               f"or pass --allow-diff {key} if they may")
    for key in sorted(set().union(*(r.keys for r in runs)) - allowed):
        having = [g for g in groups if all(key in r.keys for r in g.runs)]
        if len(having) < 2:  # an algorithm's own option, or not recorded by one group
            continue
        found = {g.label: g.runs[0].keys[key] for g in having}
        if len({json.dumps(v) for v in found.values()}) > 1:
            shown = ", ".join(f"{v!r} in {label}" for label, v in found.items())
            raise RunError(f"the groups differ in more than the algorithm: {key} ({shown}); "
                           f"pass --allow-diff {key} if that is what is compared")


@contextlib.contextmanager
def _seeded_bootstrap(seed: int):
    """rliable's bootstrap, reproducible: its ``StratifiedBootstrap`` draws its resamples
    from NumPy's global generator (``np.random.choice``), whatever ``random_state`` it is
    given, so the global generator is seeded with ``seed`` here and its state restored after.
    rliable also hands arch's bootstrap a ``RandomState``, which arch 7 warns is deprecated;
    the numbers are unaffected, so that warning is not shown to users."""
    state = np.random.get_state()  # noqa: NPY002 (rliable's generator)
    np.random.seed(seed)  # noqa: NPY002 (rliable's generator)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="random_state is deprecated",
                                    category=FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)  # noqa: NPY002 (rliable's generator)


def iqm(values: np.ndarray) -> float:
    """rliable's interquartile mean of ``values [n]`` (the mean of the middle half)."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(np.asarray(values, np.float64)[:, None]))


def iqm_interval(values: np.ndarray, reps: int, seed: int) -> tuple[float, float, float]:
    """``(IQM, CI low, CI high)`` of ``values [n]``: rliable's interquartile mean with a 95%
    percentile stratified-bootstrap interval from ``reps`` resamples; the same ``seed``
    gives the same interval."""
    from rliable import library as rly
    from rliable import metrics

    with _seeded_bootstrap(seed) as random_state:
        point, ci = rly.get_interval_estimates(
            {"g": values[:, None]}, lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps, random_state=random_state)
    return float(point["g"][0]), float(ci["g"][0, 0]), float(ci["g"][1, 0])


def improvement_interval(x: np.ndarray, y: np.ndarray, reps: int,
                         seed: int) -> tuple[float, float, float]:
    """``(P(X > Y), CI low, CI high)``: rliable's probability of improvement of ``x [n]``
    over ``y [m]`` (Mann-Whitney U / nm) with a 95% bootstrap interval."""
    from rliable import library as rly
    from rliable import metrics

    with _seeded_bootstrap(seed) as random_state:
        point, ci = rly.get_interval_estimates(
            {"xy": [x[:, None], y[:, None]]},
            lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=reps,
            random_state=random_state)
    return float(point["xy"][0]), float(ci["xy"][0, 0]), float(ci["xy"][1, 0])


def permutation_test(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided",
                     seed: int = 0) -> dict:
    """The permutation test of ``mean(x) - mean(y)`` for independent samples (scipy):
    ``{"difference", "p", "exact", "splits"}``, exact over all ``C(n + m, n)`` splits up to
    :data:`EXACT_LIMIT`, else Monte Carlo over :data:`MONTE_CARLO_SPLITS`. ``alternative``:
    ``two-sided``, ``greater`` (``x`` above ``y``) or ``less``."""
    from scipy import stats

    splits = math.comb(len(x) + len(y), len(x))
    exact = splits <= EXACT_LIMIT
    result = stats.permutation_test(
        (x, y), lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        permutation_type="independent", vectorized=True, alternative=alternative,
        n_resamples=np.inf if exact else MONTE_CARLO_SPLITS, rng=np.random.default_rng(seed))
    return {"difference": float(np.mean(x) - np.mean(y)), "p": float(result.pvalue),
            "exact": exact, "splits": splits if exact else MONTE_CARLO_SPLITS}


def compare(run_dirs: Sequence[str | pathlib.Path], labels: Sequence[str] | None = None,
            allow: Sequence[str] = (), max_steps: int | None = None,
            alternative: str = "two-sided", reps: int = 5_000, seed: int = 0) -> dict:
    """The comparison of ``run_dirs`` (see the module docstring), as a JSON-able dict:
    ``{"metric", "env_steps", "groups": [...], "pairs": [...]}``. ``labels``: one per run
    directory (the same label pools runs); default: each directory's name.

    Raises RunError (bad input or runs not comparable) and ValueError (rliable missing)."""
    run_dirs = [pathlib.Path(d) for d in run_dirs]
    if labels is None:
        names = [d.name for d in run_dirs]
        labels = names if len(set(names)) == len(names) else [str(d) for d in run_dirs]
    if len(labels) != len(run_dirs):
        raise RunError(f"--labels gives {len(labels)} label(s) for {len(run_dirs)} run "
                       "directories; give one per directory (the same label pools runs)")
    if max_steps is not None and max_steps <= 0:
        raise RunError(f"--max-steps must be positive, got {max_steps}")
    if reps < 1:
        raise RunError(f"--reps must be positive, got {reps}")
    if len(set(labels)) < 2:
        raise RunError("a comparison needs at least two groups: give the runs of each "
                       "group their own --labels")
    try:
        import rliable  # noqa: F401
    except ImportError as e:
        raise ValueError("compare needs rliable: pip install 'nail_jax[study]'") from e
    groups = make_groups([read_run(d, max_steps) for d in run_dirs], list(labels))
    check_comparable(groups, allow, cut=max_steps is not None)
    out_groups = []
    for group in groups:
        row = {"label": group.label, "runs": [str(r.run_dir) for r in group.runs],
               "seeds": list(group.seeds)}
        for number in NUMBERS:
            v = group.values[number]
            iqm, low, high = iqm_interval(v, reps, seed)
            row[number] = {"values": v.tolist(), "mean": float(v.mean()),
                           "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
                           "iqm": iqm, "iqm_ci": [low, high]}
        out_groups.append(row)
    pairs = []
    for i, x in enumerate(groups):
        for y in groups[i + 1:]:
            row = {"x": x.label, "y": y.label}
            for number in NUMBERS:
                p, low, high = improvement_interval(x.values[number], y.values[number], reps,
                                                    seed)
                row[number] = {"probability_of_improvement": p, "ci": [low, high]}
                if len(groups) == 2:
                    row[number]["permutation"] = permutation_test(
                        x.values[number], y.values[number], alternative, seed)
            pairs.append(row)
    return {"metric": groups[0].runs[0].metric, "env_steps": groups[0].runs[0].env_steps,
            "alternative": alternative, "reps": reps, "groups": out_groups, "pairs": pairs}


def format_comparison(result: dict) -> str:
    """``result`` of :func:`compare` as markdown tables, with what each column is."""
    lines = [f"{result['metric']} at {result['env_steps']} env steps; per group over seeds: "
             "mean, sample SD (ddof 1), IQM with 95% stratified-bootstrap CI (rliable, "
             f"{result['reps']} resamples). final = last evaluation, last10 = mean of the "
             "last 10, auc = mean of all.", "",
             "| group | seeds | number | mean | SD | IQM | 95% CI |",
             "|---|---|---|---|---|---|---|"]
    for g in result["groups"]:
        for number in NUMBERS:
            v = g[number]
            sd = "-" if v["sd"] is None else f"{v['sd']:.3f}"
            lines.append(f"| {g['label']} | {len(g['seeds'])} | {number} | {v['mean']:.3f} | "
                         f"{sd} | {v['iqm']:.3f} | [{v['iqm_ci'][0]:.3f}, "
                         f"{v['iqm_ci'][1]:.3f}] |")
    if result["pairs"]:
        test = result["pairs"][0]["final"].get("permutation")
        head = "| X vs Y | number | mean X - mean Y | P(X > Y) | 95% CI |"
        if test is not None:
            kind = (f"exact over {test['splits']} splits" if test["exact"]
                    else f"Monte Carlo, {test['splits']} splits")
            head += f" permutation p ({result['alternative']}, {kind}) |"
        lines += ["", head, "|" + "---|" * (head.count("|") - 1)]
        for pair in result["pairs"]:
            for number in NUMBERS:
                v = pair[number]
                line = (f"| {pair['x']} vs {pair['y']} | {number} | "
                        f"{_difference(result, pair, number):+.3f} | "
                        f"{v['probability_of_improvement']:.3f} | "
                        f"[{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] |")
                if "permutation" in v:
                    line += f" {v['permutation']['p']:.4g} |"
                lines.append(line)
    return "\n".join(lines)


def _difference(result: dict, pair: dict, number: str) -> float:
    means = {g["label"]: g[number]["mean"] for g in result["groups"]}
    return round(means[pair["x"]] - means[pair["y"]], 12) + 0.0  # no "-0.000"
