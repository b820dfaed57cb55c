"""Precision and recall of duplicate detection on real A-share aliases and a synthetic set.

Usage:
    .venv/bin/python bench/eval_dedupe.py [--aliases CSV] [--threshold N] [--baselines]
        [--no-cli] [--json]

The alias set (default /work/shared/data/companies/a_share_aliases_dev.csv): every distinct
legal name, short name and former/variant name of one stock code becomes a customer; two
customers are the same company exactly when they share a code. The workbook is written to
xlsx and run through the real `crm dedupe --format json` (reader + CLI), and through the
library; pair precision/recall are counted over the clusters (every two members of one
cluster are a predicted pair) and over the reported pairs.

The synthetic set plants variants (spaces, brackets, dropped 有限, region added/removed,
traditional characters, one-character typo, contact-only evidence) next to hard negatives
(same words, different company). Nothing here is used by the matcher itself.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crm_sheets.dedupe import find_duplicates  # noqa: E402
from crm_sheets.model import Record, Workbook, new_workbook  # noqa: E402

DEFAULT_ALIASES = Path("/work/shared/data/companies/a_share_aliases_dev.csv")
NAME_COLUMNS = ("full_name", "short_name", "expanded_short_name", "b_share_short_name",
                "short_name_2025_10", "short_name_2019_11", "former_or_variant_names")


# --- data sets ------------------------------------------------------------------------------

def load_aliases(path: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(group, name) for every distinct name of every code (English names are left out)."""
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for k, row in enumerate(csv.DictReader(fh)):
            if limit is not None and k >= limit:
                break
            seen: set[str] = set()
            for col in NAME_COLUMNS:
                for name in (row.get(col) or "").split("|"):
                    name = name.strip()
                    if name and name not in seen:
                        seen.add(name)
                        out.append((row["code"], name))
    return out


def load_locations(path: Path) -> dict[str, dict[str, str]]:
    """code -> {"province", "city"} from the CSV (empty for codes without them)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {row["code"]: {"province": row.get("province") or "",
                              "city": row.get("city") or ""} for row in csv.DictReader(fh)}


def alias_entries(path: Path, with_location: bool = True, limit: int | None = None
                  ) -> list[tuple[str, str, dict[str, str]]]:
    """The alias customers; with_location fills province/city the same for every name of
    a code (as a CRM row would carry them)."""
    locs = load_locations(path) if with_location else {}
    return [(g, n, {k: v for k, v in locs.get(g, {}).items() if v})
            for g, n in load_aliases(path, limit)]


def synthetic_set(seed: int = 7) -> list[tuple[str, str, dict[str, str]]]:
    """(group, name, contacts) with planted variants and hard negatives."""
    from crm_sheets.dedupe.synthetic import company_names, variant

    rng = random.Random(seed)
    out: list[tuple[str, str, dict[str, str]]] = []
    bases = company_names(400, seed=seed)
    kinds = ("spaces", "brackets", "drop_youxian", "region_add", "region_drop", "traditional",
             "typo", "fullwidth", "short", "contact")
    for g, base in enumerate(bases):
        phone = f"13{rng.randrange(10**8, 10**9):09d}"
        out.append((f"s{g}", base, {"phone": phone}))
        if g % 4 == 3:
            continue  # some companies have no twin
        kind = kinds[g % len(kinds)]
        name, contacts = variant(base, kind, rng), {}
        if kind == "contact":
            contacts = {"phone": phone}
        out.append((f"s{g}", name, contacts))
    # hard negatives: same words, different company
    from crm_sheets.dedupe.synthetic import hard_negatives

    for k, name in enumerate(hard_negatives(bases, rng)):
        out.append((f"n{k}", name, {}))
    return out


def build_workbook(entries: Iterable[tuple[str, str, dict[str, str]]], lang: str = "zh"
                   ) -> tuple[Workbook, dict[str, str]]:
    """A workbook with one customer per entry; returns it and customer id -> group."""
    wb = new_workbook(lang)
    truth: dict[str, str] = {}
    for k, (group, name, contacts) in enumerate(entries):
        cid = f"C20240101{k + 1:04d}"
        truth[cid] = group
        wb.customers.records.append(Record(row=k + 2, values={
            "customer_id": cid, "name": name, "phone": contacts.get("phone"),
            "email": contacts.get("email"), "province": contacts.get("province"),
            "city": contacts.get("city"), "contact_name": "联系人", "owner": "王芳"}))
    return wb, truth


# --- metrics --------------------------------------------------------------------------------

def true_pairs(truth: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for cid, g in truth.items():
        groups[g].append(cid)
    return {frozenset(p) for ids in groups.values() for p in itertools.combinations(ids, 2)}


def pr(predicted: set[frozenset[str]], truth: dict[str, str]) -> dict[str, float]:
    gold = true_pairs(truth)
    tp = sum(1 for p in predicted if p in gold)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(gold) if gold else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "predicted": len(predicted), "true": len(gold), "tp": tp}


def cluster_pairs(result: dict) -> set[frozenset[str]]:
    return {frozenset(p) for c in result["clusters"]
            for p in itertools.combinations(c["customer_ids"], 2)}


def edge_pairs(result: dict) -> set[frozenset[str]]:
    return {frozenset((p["a"], p["b"])) for c in result["clusters"] for p in c["pairs"]}


# --- runs -----------------------------------------------------------------------------------

def run_cli(wb: Workbook, threshold: int | None) -> dict:
    """Write the workbook to xlsx and run the real `crm dedupe --format json` on it."""
    from click.testing import CliRunner

    from crm_sheets.cli import cli
    from crm_sheets.template import build_workbook as write_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "master.xlsx"
        write_xlsx(path, lang=wb.lang, customers=[r.values for r in wb.customers.records])
        args = ["dedupe", str(path), "--format", "json"]
        if threshold is not None:
            args += ["--threshold", str(threshold)]
        res = CliRunner().invoke(cli, args)
        if res.exit_code not in (0, 1):
            raise SystemExit(f"crm dedupe failed ({res.exit_code}): {res.output[-500:]}")
        return json.loads(res.output)


def baselines(wb: Workbook, truth: dict[str, str]) -> list[tuple[str, dict[str, float]]]:
    """Plain rapidfuzz over all pairs (small sets only), for the methods table."""
    import numpy as np
    from rapidfuzz import fuzz, process

    from crm_sheets.dedupe.normalize import name_forms

    ids = [str(r.values["customer_id"]) for r in wb.customers.records]
    raw = [str(r.values["name"]) for r in wb.customers.records]
    keys = [name_forms(n).key for n in raw]
    out = []

    def allpairs(names: Sequence[str], scorer: Callable, cut: int) -> set[frozenset[str]]:
        m = process.cdist(names, list(names), scorer=scorer, score_cutoff=cut, dtype=np.uint8,
                          workers=1)
        ii, jj = np.nonzero(np.triu(m, k=1))
        return {frozenset((ids[i], ids[j])) for i, j in zip(ii.tolist(), jj.tolist(),
                                                             strict=True)}

    out.append(("raw names, fuzz.ratio ≥ 85", pr(allpairs(raw, fuzz.ratio, 85), truth)))
    out.append(("raw names, fuzz.WRatio ≥ 90", pr(allpairs(raw, fuzz.WRatio, 90), truth)))
    out.append(("normalised key, exact only", pr(
        {frozenset(p) for g in _groups(ids, keys) for p in itertools.combinations(g, 2)}, truth)))
    out.append(("normalised key, fuzz.ratio ≥ 85", pr(allpairs(keys, fuzz.ratio, 85), truth)))
    out.append(("normalised key, partial_ratio ≥ 85",
                pr(allpairs(keys, fuzz.partial_ratio, 85), truth)))
    return out


def _groups(ids: list[str], keys: list[str]) -> list[list[str]]:
    g: dict[str, list[str]] = defaultdict(list)
    for i, k in zip(ids, keys, strict=True):
        if k:
            g[k].append(i)
    return [v for v in g.values() if len(v) > 1]


def evaluate(entries: list[tuple[str, str, dict[str, str]]], threshold: int | None,
             use_cli: bool) -> dict:
    wb, truth = build_workbook(entries)
    t0 = time.perf_counter()
    lib = find_duplicates(wb, threshold).to_dict()
    elapsed = time.perf_counter() - t0
    report = {"customers": len(truth), "seconds": round(elapsed, 3),
              "clusters": pr(cluster_pairs(lib), truth), "pairs": pr(edge_pairs(lib), truth)}
    if use_cli:
        cli_result = run_cli(wb, threshold)
        report["cli_clusters"] = pr(cluster_pairs(cli_result), truth)
        report["cli_matches_library"] = cluster_pairs(cli_result) == cluster_pairs(lib)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aliases", type=Path, default=DEFAULT_ALIASES)
    ap.add_argument("--threshold", type=int, default=None)
    ap.add_argument("--baselines", action="store_true", help="also score plain rapidfuzz")
    ap.add_argument("--no-cli", action="store_true", help="library only (skip the xlsx + CLI run)")
    ap.add_argument("--no-location", action="store_true",
                    help="leave the province/city columns empty (names only)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    entries = alias_entries(args.aliases, with_location=not args.no_location)
    out = {"aliases": evaluate(entries, args.threshold, not args.no_cli),
           "synthetic": evaluate(synthetic_set(), args.threshold, not args.no_cli)}
    if args.baselines:
        wb, truth = build_workbook(entries)
        out["baselines"] = {name: m for name, m in baselines(wb, truth)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    th = args.threshold if args.threshold is not None else "default (85)"
    print(f"threshold: {th}")
    for name in ("aliases", "synthetic"):
        r = out[name]
        c, p = r["clusters"], r["pairs"]
        print(f"{name:10s} customers={r['customers']:5d}  clusters: P={c['precision']:.3f} "
              f"R={c['recall']:.3f} ({c['tp']}/{c['true']} true pairs, {c['predicted']} predicted)"
              f"  pairs: P={p['precision']:.3f} R={p['recall']:.3f}  {r['seconds']:.2f}s")
        if "cli_clusters" in r:
            cc = r["cli_clusters"]
            print(f"{'':10s} via crm dedupe (xlsx): P={cc['precision']:.3f} R={cc['recall']:.3f}"
                  f"  same as library: {r['cli_matches_library']}")
    for name, m in out.get("baselines", {}).items():
        print(f"baseline  {name:38s} P={m['precision']:.3f} R={m['recall']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
