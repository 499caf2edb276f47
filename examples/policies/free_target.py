#!/usr/bin/env python3
"""An external memory policy for Memvisor: keeps the host's free memory near a target by moving balloon targets.

Memvisor runs it with `policy: { name: external, command: [python3, policies/free_target.py] }` and, at every
decision, writes one snapshot as one line of JSON on its stdin (docs/schema/snapshot.schema.json) and reads one line
back: a JSON array of actions (docs/schema/actions.schema.json). Standard library only; deterministic.

The rule, a small cousin of MOM's and squeezed's: each guest with a balloon needs what it uses (its memory less
what it has available) plus 25%, never below its balloon's floor nor above its static maximum. While the host's free
memory is below 10% of its memory, every guest above its need gives up a quarter of the excess; above 10%, guests
short of their need get it from the free memory beyond 10%, in name order.
"""
import json
import sys

LOW = 0.10              # share of host memory kept free
SLACK = 1.25            # what a guest needs over what it uses
STEP = 256              # pages: smaller changes are not worth a balloon move


def need(d):
    used = max(0, d["tot_pages"] - d["mem_available_pages"])
    return min(d["static_max_pages"], max(d["floor_pages"], int(used * SLACK)))


def decide(host):
    guests = sorted((d for d in host["domains"] if d["feature_balloon"] and not d["uncooperative"]), key=lambda d: d["name"])
    spare = host["free_pages"] - int(LOW * host["total_pages"])
    targets = {d["name"]: d["target_pages"] for d in guests}
    for d in guests:
        gap = need(d) - d["target_pages"]
        if spare < 0 and gap < 0:
            targets[d["name"]] = d["target_pages"] + gap // 4  # gap is negative: a quarter of the excess goes
        elif spare > 0 and gap > 0:
            give = min(spare, gap)
            targets[d["name"]] = d["target_pages"] + give
            spare -= give
    return [{"kind": "mem_set", "domain": d["name"], "value": targets[d["name"]]}
            for d in guests if abs(targets[d["name"]] - d["target_pages"]) >= STEP]


def main():
    for line in sys.stdin:
        print(json.dumps(decide(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
