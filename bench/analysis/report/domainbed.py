"""Domain-generalization cells in DomainBed's layout (Gulrajani & Lopez-Paz, ICLR 2021; its
``scripts/collect_results.py``): per dataset and selection rule one table, one row per algorithm, one
column per held-out domain plus ``Avg``, each cell the mean ± standard error over trial seeds, with
DomainBed's published number (``bench.analysis.reference.DOMAINBED``) and the difference beside it.

A DG cell is one with several source domains (``source_domain`` joined by ``+``); a *dataset* is the
set of domains its cells use (a leave-one-domain-out list gives one set for every held-out domain).
The rules are DomainBed's, applied by the report's one selection (``bench.analysis.report.select``):

- training-domain validation = rule ``source_val``: the checkpoint (and trial) with the best
  accuracy on the source domains' pooled val splits (for ``rmnist`` / ``cmnist`` the 20% out-splits,
  equal in size per domain, so the pooled accuracy is DomainBed's mean of per-domain accuracies).
  Cells without checkpoint tables that selected ``source_val`` in the run count as recorded.
- leave-one-domain-out cross-validation = ``leave_one_out`` (``bench.analysis.report.lodo``): the
  mean accuracy, at the same trial and step, of the cell's validation cells (a suite's
  ``lodo_validation: true``); those cells are its inputs only and get no table of their own.
- test-domain validation = rule ``oracle`` (labelled ORACLE): needs checkpoint tables.
- the report's own ``--select`` rule, when it is another one (no published numbers).

Standard error as DomainBed's ``format_mean``: the population standard deviation over seeds divided
by sqrt(n); ``Avg`` is the mean of the domains' means, only where every held-out domain has one.
Where the harness has only some of the published table's domains (VLCS: no VOC2007 in ``vlcs-mini``),
the missing columns show the published number alone and the published Avg (over all of its domains)
is shown beside ours without a difference (``comparable`` false): compare per domain.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.reference import (DOMAINBED, domainbed_columns, domainbed_dataset, domainbed_missing,
                                      domainbed_published, domainbed_row)
from bench.analysis.report import render
from bench.analysis.report.data import label_methods, latest
from bench.analysis.report.lodo import LODO, LODO_COLUMN, validation_only, with_lodo_scores
from bench.analysis.report.rules import score_column
from bench.analysis.report.sections import rule_title
from bench.analysis.report.select import select
from bench.results.schema import SOURCES_SEP, domain_parts

#: DomainBed's selection methods that the report applies, under the harness's rule names
DG_RULES = {"source_val": "training-domain validation set",
            LODO: "leave-one-domain-out cross-validation",
            "oracle": "test-domain validation set (oracle)"}
AVG = "Avg"


def dg_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of multi-source (domain-generalization) cells, with their ``dataset``; not the
    leave-one-domain-out validation cells (``lodo.validation_only``)."""
    dg = rows[rows["source_domain"].astype(str).str.contains(SOURCES_SEP, regex=False)
              & ~validation_only(rows)].copy()
    domains = [frozenset(domain_parts(s)) | {t} for s, t in zip(dg["source_domain"], dg["target_domain"])]
    dg["dataset"] = [domainbed_dataset(d) or ", ".join(sorted(d)) for d in domains]
    return dg


def chosen_rows(dg: pd.DataFrame, checkpoints: pd.DataFrame | None, rule: str,
                rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One ok row per (backbone, method, cell, seed) that ``rule`` selected: from the checkpoint
    tables when they carry the rule's score, else the rows whose run selected by ``rule`` itself.
    ``leave_one_out`` scores ``dg``'s cells from the validation cells among ``rows`` (all rows)."""
    if rule == LODO:
        checkpoints = with_lodo_scores(_with_trial(dg if rows is None else rows), checkpoints)
    column = LODO_COLUMN if rule == LODO else score_column(rule)
    ck = None if checkpoints is None else checkpoints[checkpoints["cell_key"].isin(dg["cell_key"])]
    usable = ck is not None and not ck.empty and column in ck.columns
    chosen = select(dg, ck if usable else None, rule if usable else "last")
    chosen = latest(label_methods(chosen, by_hparams=False))
    keep = (chosen["status"] == "ok") & (chosen["selection_rule"] == rule) & chosen["target_acc"].notna()
    return chosen[keep]


def _with_trial(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows written before search existed are trial 0 (as ``select`` reads them)."""
    return rows if "trial" in rows.columns else rows.assign(trial=0)


def _row_labels(part: pd.DataFrame) -> pd.Series:
    """The strategy, or the report's method label where one strategy shows as several methods."""
    per = part.groupby("strategy")["method"].nunique()
    return part["method"].where(part["strategy"].map(per) > 1, part["strategy"])


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    """DomainBed's ``format_mean``: mean and std / sqrt(n) (population std; NaN for one seed)."""
    return float(values.mean()), (float(values.std() / math.sqrt(len(values))) if len(values) > 1 else math.nan)


def domainbed_frame(chosen: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Long table: backbone, label_budget, dataset, algorithm, strategy, domain (a held-out domain,
    ``Avg``, or a published column the dataset lacks, with n 0), mean, se, n, published, difference,
    comparable (false where ``published`` is not over the same domain(s) as ours: no difference)."""
    chosen = chosen.assign(algorithm=_row_labels(chosen)) if len(chosen) else chosen
    out = []
    for (backbone, budget, dataset), part in chosen.groupby(["backbone", "label_budget", "dataset"], sort=True):
        columns = _columns(dataset, part["target_domain"])
        for (algorithm, strategy), rows in part.groupby(["algorithm", "strategy"], sort=True):
            published = domainbed_published(dataset, rule, strategy)
            row = domainbed_row(dataset, rule, strategy)
            entries = []
            for domain in columns:
                vals = rows.loc[rows["target_domain"] == domain, "target_acc"].to_numpy(float)
                if len(vals):
                    mean, se = _mean_se(vals)
                    entries.append(dict(domain=domain, mean=mean, se=se, n=len(vals)))
            if len(entries) == len(columns):
                entries.append(dict(domain=AVG, mean=float(np.mean([e["mean"] for e in entries])),
                                    se=math.nan, n=min(e["n"] for e in entries)))
            for e in entries:
                pub = published.get(e["domain"], math.nan)
                if e["domain"] == AVG and AVG not in published and row:  # over other domains than ours
                    out.append(dict(backbone=backbone, label_budget=budget, dataset=dataset, algorithm=algorithm,
                                    strategy=strategy, **e, published=row[AVG], difference=math.nan,
                                    comparable=False))
                    continue
                out.append(dict(backbone=backbone, label_budget=budget, dataset=dataset, algorithm=algorithm,
                                strategy=strategy, **e, published=pub, difference=e["mean"] - pub,
                                comparable=not math.isnan(pub)))
            for label in _missing(dataset) if row else ():
                out.append(dict(backbone=backbone, label_budget=budget, dataset=dataset, algorithm=algorithm,
                                strategy=strategy, domain=label, mean=math.nan, se=math.nan, n=0,
                                published=row[label], difference=math.nan, comparable=False))
    cols = ["backbone", "label_budget", "dataset", "algorithm", "strategy", "domain", "mean", "se", "n",
            "published", "difference", "comparable"]
    return pd.DataFrame(out, columns=cols)


def _columns(dataset: str, held_out) -> list[str]:
    """The held-out domains of a dataset: DomainBed's order when it is one of its, else sorted."""
    ref = DOMAINBED["datasets"].get(dataset)
    return list(ref["domains"]) if ref else sorted(set(held_out) - {AVG})


def _missing(dataset: str) -> tuple[str, ...]:
    """The published columns this dataset has no domain for (none for a dataset DomainBed lacks)."""
    return domainbed_missing(dataset) if dataset in DOMAINBED["datasets"] else ()


def _label(dataset: str, domain: str) -> str:
    return DOMAINBED["datasets"].get(dataset, {}).get("domains", {}).get(domain, domain)


def _cell(r, dataset: str) -> str:
    if r.n == 0:  # a published column without a domain of ours
        return f"- ({r.published:.1f})"
    text = f"{r.mean:.1f}" + ("" if pd.isna(r.se) else f" ± {r.se:.1f}")
    if pd.isna(r.published):
        return text
    if not r.comparable:  # the published Avg, over more domains than ours
        return text + f" ({r.published:.1f} over {'/'.join(domainbed_columns(dataset))})"
    return text + f" ({r.published:.1f}, {r.difference:+.1f})"


def layout_table(long: pd.DataFrame) -> pd.DataFrame:
    """One dataset's long rows as DomainBed's table: algorithms x (held-out domains, Avg), as text."""
    dataset = long["dataset"].iloc[0]
    columns = _columns(dataset, long["domain"])
    shown = [_label(dataset, d) for d in columns] + list(_missing(dataset)) + [AVG]
    algorithms = sorted(long["algorithm"].unique())
    text = pd.DataFrame("-", index=pd.Index(algorithms, name="algorithm"), columns=shown, dtype=object)
    for r in long.itertuples(index=False):
        text.at[r.algorithm, AVG if r.domain == AVG else _label(dataset, r.domain)] = _cell(r, dataset)
    return text


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(parts)).strip("_")


def _note(chosen: pd.DataFrame, rule: str, published: bool, dataset: str = "") -> str:
    in_run = int(chosen["selected_step"].isna().sum())
    how = (f"{in_run} of {len(chosen)} picks as the run's in-run {render.md_code(rule)} selection recorded "
           "them (trial 0), the others from checkpoint tables" if in_run else "every pick from checkpoint tables")
    text = (f"Each cell: mean ± standard error over trial seeds (DomainBed's: population std / sqrt(n); "
            f"none shown with one seed) of target-test accuracy, picked by {render.md_code(rule)}; {how}. "
            "`Avg`: the mean of the held-out domains' means, shown only where every held-out domain has one.")
    if published:
        text += (" In brackets: DomainBed's published number (" + render.md_text(DOMAINBED["source"])
                 + ") and ours minus it, in points.")
    missing = _missing(dataset) if published else ()
    if missing:
        ours, theirs = "/".join(DOMAINBED["datasets"][dataset]["domains"].values()), "/".join(domainbed_columns(dataset))
        text += (f" The published table's {', '.join(missing)} column has no domain here: it shows the published "
                 f"number alone, and the published `Avg` is over {theirs}, ours over {ours}, so `Avg` gets no "
                 "difference: compare per domain.")
    if rule == LODO:
        text += (" Leave-one-domain-out: each candidate (trial, step) scored by the mean accuracy, at that "
                 "step, of the models trained with its hyper-parameters on all domains but the held-out one "
                 "and one source v, on v (one validation cell per source; DomainBed trains each such model "
                 "once for two held-out domains, here once per ordered pair).")
    if rule == "oracle":
        text += (" ORACLE: picked by target-test labels (analysis only). The harness's oracle takes the "
                 "best target-test accuracy over every trial and checkpoint; DomainBed's picks the "
                 "hyper-parameters by the held-out domain's 20% out-split at the last step only, so ours "
                 "is at least as optimistic.")
    return text


def domainbed_blocks(out: Path, rows: pd.DataFrame, checkpoints: pd.DataFrame | None,
                     report_rule: str) -> list[tuple]:
    """The report section: empty without multi-source cells."""
    dg = dg_rows(rows) if not rows.empty else rows
    if dg.empty:
        return []
    blocks: list[tuple] = [("h2", "Domain generalization, DomainBed's layout"),
                           ("p", "Multi-source cells (held-out target never seen in training), one table per "
                                 "dataset and selection rule, as DomainBed's results tables.")]
    rules = list(DG_RULES) + ([report_rule] if report_rule not in (*DG_RULES, "last") else [])
    for rule in rules:
        name = DG_RULES.get(rule, rule)
        chosen = chosen_rows(dg, checkpoints, rule, rows)
        if chosen.empty:
            why = (f"not available: no checkpoint table has a {render.md_code(score_column(rule))} score for "
                   "these cells (run the suite with `checkpoints: K`)." if rule != LODO else
                   "not available: it needs checkpoint tables and each cell's validation cells (a "
                   "`leave_one_out` list with `lodo_validation: true` and `checkpoints: K`).")
            blocks.append(("p", f"{render.md_text(name)} ({render.md_text(rule_title(rule))}): {why}"))
            continue
        long = domainbed_frame(chosen, rule)
        for (backbone, budget, dataset), part in long.groupby(["backbone", "label_budget", "dataset"], sort=True):
            text = layout_table(part)
            plain = pd.DataFrame(False, index=text.index, columns=text.columns)
            caption = f"{dataset}, {name}, {backbone}, label budget {budget}, {rule_title(rule)}"
            render.write_table(out, _slug("domainbed", dataset, backbone, f"budget-{budget}", rule), text, plain,
                               part.set_index("algorithm"), caption)
            mine = chosen[(chosen["backbone"] == backbone) & (chosen["label_budget"] == budget)
                          & (chosen["dataset"] == dataset)]
            blocks += [("h3", caption), ("table", text, plain),
                       ("p", _note(mine, rule, part["published"].notna().any(), dataset))]
    return blocks
