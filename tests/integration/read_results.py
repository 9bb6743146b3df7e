#!/usr/bin/env python3
"""Reads a gpuaccept results file with h5py and numpy only, the way a user would.

    read_results.py results.h5                 # a short summary
    read_results.py --check-local results.h5   # also check the layout of docs/results-schema.md

Exit status: 0 when the file reads (and, with --check-local, every check passes), 1 otherwise.
"""

import argparse
import sys

import h5py
import numpy as np

STATUS_CODES = {"ok": 0, "incorrect": 1, "skipped": 2, "error": 3, "timeout": 4, "missing": 5}
BETTER = {"higher", "lower", "none"}
ROOT_STRINGS = ["gpuaccept_schema", "tool_version", "git_revision", "campaign", "system", "phase",
                "backend", "start_time_iso", "command_line"]
ROOT_NUMBERS = ["start_time", "end_time", "rank_count"]
STEP_ATTRIBUTES = ["benchmark", "backend", "repetition", "status", "status_code", "reason",
                   "start_time", "end_time", "ranks_in_step", "index"]


def steps_in_order(f):
    """Step groups sorted by their "index" attribute (the order they were written in)."""
    return sorted(f["steps"].values(), key=lambda g: int(g.attrs["index"]))


def step_id(group):
    return group.name.rsplit("/", 1)[-1]


def units_of(dataset):
    """{field name: unit} of a per_rank or points table."""
    return dict(zip(dataset.dtype.names, dataset.attrs["units"]))


def summarize(f, out, max_steps=20):
    a = f.attrs
    state = "finished" if float(a["end_time"]) > 0 else "unfinished"
    print(f"{f.filename}: gpuaccept schema {a['gpuaccept_schema']}, campaign {a['campaign']} "
          f"on {a['system']} ({a['phase']}), backend {a['backend']}, {int(a['rank_count'])} rank(s), "
          f"started {a['start_time_iso']}, {state}", file=out)
    steps = steps_in_order(f)
    print(f"{len(steps)} step(s)", file=out)
    for g in steps[:max_steps]:
        line = (f"  {int(g.attrs['index']):3d} {step_id(g)} {g.attrs['status']:9s} "
                f"{int(g.attrs['ranks_in_step'])} rank(s)")
        if "per_rank" in g:
            per_rank = g["per_rank"]
            units = units_of(per_rank)
            table = per_rank[()]
            metrics = [n for n in per_rank.dtype.names if n not in ("rank", "status")][:2]
            for name in metrics:
                values = np.asarray(table[name], dtype=float)
                if values.size and not np.all(np.isnan(values)):
                    unit = f" {units[name]}" if units[name] else ""
                    line += f" | {name} min {np.nanmin(values):.4g}{unit}"
        if g.attrs["reason"]:
            line += f" | {g.attrs['reason']}"
        print(line if len(line) <= 160 else line[:157] + "...", file=out)
    if len(steps) > max_steps:
        print(f"  ... {len(steps) - max_steps} more", file=out)


class Checker:
    def __init__(self):
        self.problems = []

    def expect(self, condition, message):
        if not condition:
            self.problems.append(message)
        return condition


def check_table(c, dataset, rows, where):
    names = dataset.dtype.names or ()
    c.expect(dataset.shape == (rows,), f"{where}: shape {dataset.shape}, expected ({rows},)")
    for attribute in ("units", "better"):
        if c.expect(attribute in dataset.attrs, f"{where}: no '{attribute}' attribute"):
            c.expect(len(dataset.attrs[attribute]) == len(names),
                     f"{where}: '{attribute}' does not have one entry per field")
    if "better" in dataset.attrs:
        c.expect(set(dataset.attrs["better"]) <= BETTER, f"{where}: unknown 'better' values")
    for name in names:
        kind = dataset.dtype[name]
        c.expect(kind == np.int64 or kind == np.float64, f"{where}.{name}: type {kind}")


def check_local(f):
    c = Checker()
    for name in ROOT_STRINGS:
        if c.expect(name in f.attrs, f"root attribute '{name}' missing"):
            c.expect(isinstance(f.attrs[name], str), f"root attribute '{name}' is not a string")
    for name in ROOT_NUMBERS:
        c.expect(name in f.attrs, f"root attribute '{name}' missing")
    if c.problems:
        return c.problems
    c.expect(f.attrs["gpuaccept_schema"].split(".")[0] == "1", "schema major version is not 1")
    rank_count = int(f.attrs["rank_count"])
    end_time = float(f.attrs["end_time"])
    c.expect(end_time == 0 or end_time >= float(f.attrs["start_time"]), "end_time before start_time")

    for name in ("campaign_yaml", "contract_yaml"):
        dataset = f.get(f"config/{name}")
        if c.expect(dataset is not None, f"/config/{name} missing"):
            c.expect(isinstance(dataset.asstr()[()], str), f"/config/{name} is not a string")
            c.expect("path" in dataset.attrs, f"/config/{name} has no 'path' attribute")
    for name in ("versions", "environment"):
        group = f.get(f"provenance/{name}")
        if c.expect(isinstance(group, h5py.Group), f"/provenance/{name} missing"):
            c.expect(all(isinstance(v, str) for v in group.attrs.values()),
                     f"/provenance/{name} has a value that is not a string")

    ranks = f["ranks"][()]
    c.expect(len(ranks) == rank_count, f"/ranks has {len(ranks)} rows, rank_count is {rank_count}")
    c.expect(list(ranks["rank"]) == list(range(len(ranks))), "/ranks is not ordered by rank")
    c.expect(all(len(h) > 0 for h in ranks["host"]), "/ranks has an empty host")

    indexes = []
    for g in f["steps"].values():
        where = g.name
        missing = [a for a in STEP_ATTRIBUTES if a not in g.attrs]
        if not c.expect(not missing, f"{where}: attributes missing: {missing}"):
            continue
        indexes.append(int(g.attrs["index"]))
        status = g.attrs["status"]
        c.expect(STATUS_CODES.get(status) == int(g.attrs["status_code"]),
                 f"{where}: status {status!r} does not match status_code {int(g.attrs['status_code'])}")
        n = int(g.attrs["ranks_in_step"])
        c.expect(0 <= n <= rank_count, f"{where}: ranks_in_step {n} outside 0..{rank_count}")
        c.expect("params" in g, f"{where}: no params group")
        c.expect(g["ranks"].shape == (n,), f"{where}/ranks: not {n} rows")
        if c.expect("per_rank" in g or n == 0, f"{where}: no per_rank"):
            if "per_rank" in g:
                per_rank = g["per_rank"]
                check_table(c, per_rank, n, f"{where}/per_rank")
                names = per_rank.dtype.names or ()
                c.expect("rank" in names and "status" in names,
                         f"{where}/per_rank: no 'rank' or 'status' field")
                if "rank" in names:
                    c.expect(np.array_equal(per_rank["rank"], g["ranks"][()]),
                             f"{where}/per_rank: 'rank' differs from {where}/ranks")
        if "rank_messages" in g:
            c.expect(g["rank_messages"].shape == (n,), f"{where}/rank_messages: not {n} rows")
        if "points" in g:
            check_table(c, g["points"], g["points"].shape[0], f"{where}/points")
        if c.expect("samples" in g, f"{where}: no samples group"):
            for s in g["samples"].values():
                c.expect(s.ndim == 2 and s.dtype == np.float64, f"{s.name}: not a 2-D float64 array")
                for a in ("unit", "row_axis", "col_axis"):
                    c.expect(a in s.attrs, f"{s.name}: no '{a}' attribute")
    c.expect(len(set(indexes)) == len(indexes), "two steps share an index")
    return c.problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a gpuaccept results file (.h5)")
    parser.add_argument("--check-local", action="store_true",
                        help="check the documented layout and exit 1 on any problem")
    args = parser.parse_args()
    try:
        with h5py.File(args.file, "r") as f:
            if "gpuaccept_schema" not in f.attrs:
                print(f"{args.file}: not a gpuaccept results file", file=sys.stderr)
                return 1
            problems = check_local(f) if args.check_local else []
            if not problems:
                summarize(f, sys.stdout)
    except OSError as e:
        print(f"{args.file}: {e}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if args.check_local and not problems:
        print("layout: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
