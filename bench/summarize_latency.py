#!/usr/bin/env python3
"""Helper for bench/latency.sh (stdlib only).

  summarize_latency.py parse-json FILE.json          one `rdpshim connect --json` output ->
      "outcome<TAB>ms<TAB>attempts<TAB>engine_round_trips<TAB>engine_rtt_ms"
  summarize_latency.py baseline RESULTS.csv META OUT  this run's medians as the "before" file
  summarize_latency.py report RESULTS.csv META BASELINE  markdown report on stdout (BASELINE
      may be a path that does not exist: then there is no before/after section)

engine_round_trips and engine_rtt_ms are the connecting (last) attempt's `round_trips` and
`rtt_ms`; they are empty for a binary older than those fields.
"""
import csv
import json
import os
import sys

from benchlib import failed_runs, floats, med, read_meta, read_rows, report_head, run_cli, run_facts

MODES = ["direct", "warm", "cold", "xfreerdp"]
DEAD = "dead-first"
# The targets (at every RTT above 0): cold ladder within 3 RTT of the direct attempt,
# warm within half an RTT, direct's round trips no more than xfreerdp's; the dead-first
# name connected within 1 s with --timeout 10: outright at 0 ms, and at a higher RTT
# within 1 s of the same server reached without the dead address (xrdp-modern's cold
# ladder at that RTT), since nine round trips at 150 ms are more than a second already.
COLD_SLACK_RTT = 3.0
WARM_SLACK_RTT = 0.5
DEAD_TARGET_MS = 1000.0
BASELINE_FIELDS = ["server", "rtt", "mode", "ok_runs", "runs", "ms", "attempts",
                   "proxy_rt", "engine_rt"]


def parse_json(path):
    try:
        with open(path) as f:
            doc = json.load(f)
        attempts = doc["attempts"]
        last = attempts[-1]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        print("no-json\t\t\t\t")
        return
    outcome = "ok" if doc.get("connected") else last.get("outcome", "none")
    rt = last.get("round_trips")
    rtt = last.get("rtt_ms")
    print("\t".join([outcome, f"{float(doc.get('ms', 0)):.1f}", str(len(attempts)),
                     "" if rt is None else str(rt), "" if rtt is None else f"{rtt:.1f}"]))


def measured(rows):
    return [r for r in rows if r["phase"] == "run"]


def ok_rows(rows):
    return [r for r in rows if r["ok"] == "1"]


def median_of(rows, key):
    xs = floats(rows, key)
    return med(xs) if xs else None


def summary(rows, server, rtt, mode):
    """Medians of one (server, rtt, mode): over the runs that connected, else over all runs
    (then `ok_runs` says 0)."""
    sel = [r for r in measured(rows)
           if r["server"] == server and r["rtt"] == rtt and r["mode"] == mode]
    if not sel:
        return None
    good = ok_rows(sel)
    use = good or sel
    return {
        "ok_runs": len(good),
        "runs": len(sel),
        "ms": median_of(use, "ms"),
        "attempts": median_of(use, "attempts"),
        "proxy_rt": median_of(use, "proxy_rt"),
        "engine_rt": median_of(use, "engine_rt"),
        "engine_rtt_ms": median_of(use, "engine_rtt_ms"),
    }


def num(x, digits=0):
    if x is None:
        return "–"
    return f"{x:.{digits}f}"


def time_cell(s, rtt):
    """"560 ms (11.2 RTT)", marked when no run connected."""
    if s is None:
        return "–"
    text = f"{num(s['ms'])} ms"
    if rtt > 0 and s["ms"] is not None:
        text += f" ({s['ms'] / rtt:.1f} RTT)"
    if s["ok_runs"] == 0:
        text = f"**failed** {text}"
    elif s["ok_runs"] < s["runs"]:
        text += f" ({s['ok_runs']}/{s['runs']} ok)"
    return text


def rtts_of(rows):
    out = []
    for r in rows:
        if r["rtt"] and r["rtt"] not in out:
            out.append(r["rtt"])
    return sorted(out, key=int)


def servers_of(rows):
    out = []
    for r in rows:
        if r["server"] not in out:
            out.append(r["server"])
    return out


def slope(rows, server, rtt, mode):
    """(median at this RTT - median at 0) / RTT: the round trips the wall clock shows, with
    the client's and server's own time taken out."""
    if int(rtt) == 0:
        return None
    here, zero = summary(rows, server, rtt, mode), summary(rows, server, "0", mode)
    if not here or not zero or here["ms"] is None or zero["ms"] is None:
        return None
    if here["ok_runs"] == 0 or zero["ok_runs"] == 0:
        return None
    return (here["ms"] - zero["ms"]) / int(rtt)


def verdicts(rows, server, rtt):
    r = int(rtt)
    if r == 0:
        return "–"
    d, w, c, x = (summary(rows, server, rtt, m) for m in MODES)
    notes, ok = [], True
    if not d or d["ok_runs"] == 0 or d["ms"] is None:
        return "**FAIL**: direct did not connect"
    if c and c["ok_runs"] and c["ms"] is not None:
        slack = (c["ms"] - d["ms"]) / r
        good = slack <= COLD_SLACK_RTT
        ok &= good
        notes.append(f"cold {'≤' if good else '>'} direct + {COLD_SLACK_RTT:g} RTT ({slack:+.1f})")
    else:
        ok = False
        notes.append("cold did not connect")
    if w and w["ok_runs"] and w["ms"] is not None:
        slack = (w["ms"] - d["ms"]) / r
        good = slack <= WARM_SLACK_RTT
        ok &= good
        notes.append(f"warm {'≤' if good else '>'} direct + {WARM_SLACK_RTT:g} RTT ({slack:+.1f})")
    if x and d["proxy_rt"] is not None and x["proxy_rt"] is not None:
        good = d["proxy_rt"] <= x["proxy_rt"]
        ok &= good
        notes.append(f"round trips {num(d['proxy_rt'])} {'≤' if good else '>'} xfreerdp's "
                     f"{num(x['proxy_rt'])}")
    return ("**PASS**: " if ok else "**FAIL**: ") + "; ".join(notes)


def read_baseline(path):
    if not path or not os.path.exists(path):
        return None, {}
    meta, lines = {}, []
    with open(path, newline="") as f:
        for line in f:
            if line.startswith("#"):
                k, _, v = line[1:].strip().partition("=")
                meta[k.strip()] = v.strip()
            else:
                lines.append(line)
    table = {}
    for r in csv.DictReader(lines):
        table[(r["server"], r["rtt"], r["mode"])] = r
    return meta, table


def write_baseline(csv_path, meta_path, out_path):
    rows = read_rows(csv_path)
    meta = read_meta(meta_path)
    with open(out_path, "w", newline="") as f:
        f.write(f"# rdpshim={meta.get('rdpshim')}\n# date={meta.get('date')}\n"
                f"# n={meta.get('n')}\n# written by bench/latency.sh -B: the before figures\n")
        w = csv.DictWriter(f, fieldnames=BASELINE_FIELDS)
        w.writeheader()
        for server in servers_of(rows):
            for rtt in rtts_of(rows):
                for mode in MODES:
                    s = summary(rows, server, rtt, mode)
                    if s is None:
                        continue
                    w.writerow({"server": server, "rtt": rtt, "mode": mode,
                                "ok_runs": s["ok_runs"], "runs": s["runs"],
                                "ms": num(s["ms"], 1), "attempts": num(s["attempts"], 1),
                                "proxy_rt": num(s["proxy_rt"], 1),
                                "engine_rt": num(s["engine_rt"], 1)})


def before_cell(b, key, digits=0):
    if not b or b.get(key) in (None, "", "–"):
        return "–"
    text = f"{float(b[key]):.{digits}f}"
    if key == "ms" and b.get("ok_runs") == "0":
        text = f"**failed** {text}"
    return text


def report(csv_path, meta_path, baseline_path):
    meta = read_meta(meta_path)
    rows = read_rows(csv_path)
    base_meta, base = read_baseline(baseline_path)
    servers = [s for s in servers_of(rows) if s != DEAD]
    rtts = rtts_of(rows)

    out = report_head("rdpshim at WAN latency", "bench/latency.sh") + run_facts(meta)
    w = out.append
    w(f"- Each server behind `delay-proxy` (tests/harness) at {meta.get('rtts')} ms round trip; "
      f"{meta.get('n')} measured runs per mode after 1 warm-up, modes rotated each round")
    if base_meta:
        w(f"- Before (bench/latency-baseline.csv): {base_meta.get('rdpshim')}, "
          f"{base_meta.get('date')}")
    w("")
    w("Cells are medians over the runs that connected. *direct*: `connect --no-fallback` with the "
      "knobs that work; *warm*: with the profile a first connect saved; *cold*: the ladder with no "
      "profile; *attempts*: the cold ladder's. *RTTs counted*: round trips to the first frame, "
      "counted by the proxy (TCP handshake + every client flight the server answered) for the "
      "direct attempt, then by rdpshim itself (`round_trips` in `--json`) where the binary reports "
      "it. *Δ/RTT*: (median at this RTT − median at 0 ms) ÷ RTT, the round trips the wall clock "
      "shows with client and server think time taken out; xfreerdp's is measured the same way "
      "(process wall clock, `+auth-only`).")
    w("")
    w("| server | RTT | direct | warm | cold | attempts | RTTs counted (proxy / rdpshim) | direct Δ/RTT "
      "| xfreerdp RTTs counted | xfreerdp Δ/RTT | verdict |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    all_pass = True
    for s in servers:
        lab_fail = [r for r in rows if r["server"] == s and r["mode"] == "lab"]
        if lab_fail:
            all_pass = False
            w(f"| {s} | – | – | – | – | – | – | – | – | – | **FAIL**: {lab_fail[0]['note']} |")
            continue
        for rtt in rtts:
            r = int(rtt)
            d, wm, c, x = (summary(rows, s, rtt, m) for m in MODES)
            counted = f"{num(d and d['proxy_rt'])} / {num(d and d['engine_rt'])}"
            v = verdicts(rows, s, rtt)
            if v.startswith("**FAIL"):
                all_pass = False
            w(f"| {s} | {rtt} | {time_cell(d, r)} | {time_cell(wm, r)} | {time_cell(c, r)} "
              f"| {num(c and c['attempts'])} | {counted} | {num(slope(rows, s, rtt, 'direct'), 1)} "
              f"| {num(x and x['proxy_rt'])} | {num(slope(rows, s, rtt, 'xfreerdp'), 1)} | {v} |")
    w("")
    w("**Overall: " + ("all targets met.**" if all_pass else "some targets missed (see the verdicts).**")
      + f" Targets at every RTT above 0: cold ladder ≤ direct + {COLD_SLACK_RTT:g} RTT; warm ≤ "
      f"direct + {WARM_SLACK_RTT:g} RTT; direct's counted round trips ≤ xfreerdp's.")

    if DEAD in servers_of(rows):
        w("")
        w("## A name whose first address drops packets")
        w("")
        w(f"`{DEAD}`: the name resolves (hosts file, `tests/lab/with-hosts.sh`) to a netns-drop IPv6 "
          "address first and to 127.0.0.1 second, where the proxy forwards to xrdp-modern; "
          f"`--timeout {meta.get('dead_timeout')}`. *direct* is `--no-fallback --nla off`, *cold* the "
          "ladder, *warm* with the profile the first connect saved, xfreerdp `/v:NAME:PORT`. "
          f"Target: connected within {DEAD_TARGET_MS / 1000:g} s at 0 ms; at a higher RTT, "
          f"within {DEAD_TARGET_MS / 1000:g} s of xrdp-modern's cold ladder at that RTT (the "
          "dead address's cost). xfreerdp dials one address: when the resolver's first is IPv6, "
          "the first IPv4 one instead unless `/ipv6` is given (FreeRDP 2's "
          "libfreerdp/core/tcp.c), so this name's dead AAAA does not slow it down; a dead first "
          "A record would cost it the whole connect time-out.")
        w("")
        w("| RTT | direct | warm | cold | cold attempts | cold − xrdp-modern's cold "
          "| xfreerdp +auth-only | verdict |")
        w("|---|---|---|---|---|---|---|---|")
        for rtt in rtts:
            r = int(rtt)
            d, wm, c, x = (summary(rows, DEAD, rtt, m) for m in MODES)
            ref = summary(rows, "xrdp-modern", rtt, "cold")
            connected = bool(c and c["ok_runs"] and c["ms"] is not None)
            extra = (c["ms"] - ref["ms"]
                     if connected and ref and ref["ok_runs"] and ref["ms"] is not None else None)
            if r == 0:
                good = connected and c["ms"] <= DEAD_TARGET_MS
                v = f"cold ladder {time_cell(c, 0)}"
            else:
                good = extra is not None and extra <= DEAD_TARGET_MS
                v = "dead address cost " + ("–" if extra is None else f"{extra:+.0f} ms")
            w(f"| {rtt} | {time_cell(d, r)} | {time_cell(wm, r)} | {time_cell(c, r)} "
              f"| {num(c and c['attempts'])} | {'–' if extra is None else f'{extra:+.0f} ms'} "
              f"| {time_cell(x, r)} | {'**PASS**' if good else '**FAIL**'}: {v} |")

    if base:
        w("")
        w("## Before and now")
        w("")
        w("Medians, before → now. The before figures are the baseline file's (bench/latency.sh -B).")
        w("")
        w("| server | RTT | direct ms | warm ms | cold ms | cold attempts | direct RTTs counted |")
        w("|---|---|---|---|---|---|---|")
        for s in servers_of(rows):
            for rtt in rtts:
                def pair(mode, key, digits=0):
                    now = summary(rows, s, rtt, mode)
                    b = base.get((s, rtt, mode))
                    now_text = num(now and now[key], digits)
                    if now and key == "ms" and now["ok_runs"] == 0:
                        now_text = f"**failed** {now_text}"
                    return f"{before_cell(b, key, digits)} → {now_text}"
                w(f"| {s} | {rtt} | {pair('direct', 'ms')} | {pair('warm', 'ms')} "
                  f"| {pair('cold', 'ms')} | {pair('cold', 'attempts')} "
                  f"| {pair('direct', 'proxy_rt')} |")

    rtt_rows = [r for r in ok_rows(measured(rows)) if r["engine_rtt_ms"]]
    if rtt_rows:
        w("")
        w("## Round trip measured by rdpshim")
        w("")
        w("`rtt_ms` of the connecting attempt in `--json` (the shortest wait for an answer), median "
          "over the direct runs, against the proxy's configured round trip.")
        w("")
        w("| server | " + " | ".join(f"{rtt} ms" for rtt in rtts) + " |")
        w("|---|" + "---|" * len(rtts))
        for s in servers_of(rows):
            cells = []
            for rtt in rtts:
                sel = [r for r in rtt_rows if r["server"] == s and r["rtt"] == rtt
                       and r["mode"] == "direct"]
                cells.append(num(median_of(sel, "engine_rtt_ms"), 1))
            w(f"| {s} | " + " | ".join(cells) + " |")

    w("")
    w("## What is measured")
    w("")
    w("- *ms*: rdpshim's own `ms` for the whole run in `--json` (resolution, every attempt, to the "
      "first decoded frame; no process start-up); xfreerdp's process wall clock (start-up "
      "included, which is why only its Δ/RTT and counted round trips compare).")
    w("- The proxy (`delay-proxy`, tests/harness/src/delay.rs) delays each direction by half the "
      "RTT in user space and charges the TCP handshake to the first exchange (the kernel "
      "completes the client's connect at once), so totals are right and a client's own `tcp` "
      "stage time is not. It counts each connection's round trips the same way for both clients: "
      "the handshake plus every flight of client bytes that the server's bytes answered.")
    w("- xfreerdp `+auth-only` stops after the connection sequence, before any graphics, so its "
      "counts stop one server flight earlier than rdpshim's first frame would; it still runs its "
      "~1.3 s start-up and FreeRDP 2's 100 ms connect-loop sleeps, which Δ/RTT cancels.")
    w("- At 0 ms the times are the client's and the servers' own CPU time, which the shared "
      "machine's load (above) moves by tens of ms from run to run; the comparisons that mean "
      "something are at 50 and 150 ms and the round-trip counts. Medians of few runs.")
    w("")
    out.extend(failed_runs(
        [r for r in rows if r["ok"] != "1" and r["phase"] == "run"],
        [("server", "server"), ("rtt", "rtt"), ("mode", "mode"), ("run", "run"),
         ("ms", "ms"), ("note", "note")]))
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv, __doc__, {
        "parse-json": parse_json,
        "baseline": write_baseline,
        "report": report,
    }))
