#!/usr/bin/env python3
"""The report of bench/attempts.sh (stdlib only).

  summarize_attempts.py report WORK OUT   the markdown report from WORK (META, runs/) to
                                          stdout and to OUT
"""
import json
import os
import sys

import benchlib


def load(work, kind, label, mode):
    """A run's JSON, or None when the run is missing or printed no JSON."""
    path = os.path.join(work, "runs", f"{kind}.{label}.{mode}.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def count(run):
    return "–" if run is None else str(len(run.get("attempts", [])))


def chain(run):
    """Each attempt's outcome (with the stage for a failure), in order."""
    if run is None:
        return "no JSON"
    steps = []
    for a in run.get("attempts", []):
        offer = "nla" if a.get("nla") else "tls"
        if a.get("offered"):
            offer = "+".join(a["offered"])
        tls = a.get("tls", {})
        hello = f"{tls.get('stack')}/{tls.get('version')}"
        outcome = a.get("outcome")
        where = "" if outcome == "ok" else f"@{a.get('stage')}"
        steps.append(f"{offer} {hello}: {outcome}{where}")
    return " → ".join(steps) or "none"


def result(run):
    if run is None:
        return "–"
    if run.get("connected"):
        fallbacks = run.get("fallbacks") or []
        return "connected" + (f" ({' + '.join(fallbacks)})" if fallbacks else "")
    causes = [c["id"] for c in (run.get("verdict") or {}).get("causes", [])]
    kind = (run.get("verdict") or {}).get("kind", "?")
    return f"{kind}" + (f" ({', '.join(causes)})" if causes else "")


def report(work, out):
    meta = benchlib.read_meta(os.path.join(work, "META"))
    kinds = meta.get("kinds", "").split()
    before = bool(meta.get("before"))
    lines = benchlib.report_head("rdpshim: attempts per lab server", "bench/attempts.sh")
    lines += [
        f"Measured {meta.get('date')} on {meta.get('nproc')} CPUs ({meta.get('cpu')}), "
        f"{meta.get('kernel')}; {meta.get('rdpshim')}.",
    ]
    if before:
        lines += ["", f"Before: {meta.get('before')}."]
    lines += [
        "",
        "Cold = `rdpshim connect HOST:PORT --json` with no knobs and no profile (credentials "
        "for shadow-nla), warm = the same again with the profile the cold run saved. "
        "An attempt's offer: `ssl+hybrid+hybrid-ex` is mstsc's X.224 request (the server "
        "chooses), `nla` = HYBRID|HYBRID_EX only, `tls` = SSL only.",
        "",
    ]
    head = ["server"]
    if before:
        head.append("before: cold")
    head += ["cold", "warm", "result", "attempts (cold)"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    totals = {"before": 0, "cold": 0}
    for kind in kinds:
        cold = load(work, kind, "after", "cold")
        warm = load(work, kind, "after", "warm")
        if os.path.exists(os.path.join(work, "runs", f"{kind}.lab-error")):
            lines.append(f"| {kind} | lab server did not start |" + " |" * (len(head) - 2))
            continue
        row = [kind]
        if before:
            b = load(work, kind, "before", "cold")
            row.append(count(b))
            totals["before"] += len((b or {}).get("attempts", []))
        totals["cold"] += len((cold or {}).get("attempts", []))
        # A warm run only means something after a cold run that connected.
        warm_cell = count(warm) if cold and cold.get("connected") else "–"
        row += [count(cold), warm_cell, result(cold), chain(cold)]
        lines.append("| " + " | ".join(row) + " |")
    total = ["**total**"]
    if before:
        total.append(f"**{totals['before']}**")
    total += [f"**{totals['cold']}**", "", "", ""]
    lines.append("| " + " | ".join(total) + " |")
    if before:
        lines += ["", "## Before, attempt by attempt", "",
                  "| server | result | attempts (cold) |", "|---|---|---|"]
        for kind in kinds:
            b = load(work, kind, "before", "cold")
            lines.append(f"| {kind} | {result(b)} | {chain(b)} |")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(benchlib.run_cli(sys.argv, __doc__, {"report": report}))
