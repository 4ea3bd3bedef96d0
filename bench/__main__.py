"""``python -m bench [NAME…]``: run every benchmark (or those named: embed, capture, latency,
fanout, pointer, pyscript, render, upload, startup, impact, stall, assets, cluster), print
ratios, save JSON under bench/results/."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from . import (
    assets,
    capture,
    cluster,
    embed,
    fanout,
    impact,
    latency,
    pointer,
    pyscript,
    render,
    stall,
    startup,
    upload,
)

RESULTS = Path(__file__).parent / "results"
BENCHES = {
    "embed": embed,
    "capture": capture,
    "latency": latency,
    "fanout": fanout,
    "pointer": pointer,
    "pyscript": pyscript,
    "render": render,
    "upload": upload,
    "startup": startup,
    "impact": impact,
    "stall": stall,
    "assets": assets,
    "cluster": cluster,
}


def main(argv: list[str] | None = None) -> None:
    names = list(sys.argv[1:] if argv is None else argv) or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    stamp = time.strftime("%Y-%m-%d")
    machine = f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip()
    out = {"date": stamp, "machine": machine}
    for name in names:
        module = BENCHES[name]
        results = module.run()
        out[name] = results
        print("\n".join(module.report(results)), flush=True)
    RESULTS.mkdir(exist_ok=True)
    # a partial run gets its own file, so it does not replace the day's full run
    suffix = "" if names == list(BENCHES) else "-" + "-".join(names)
    path = RESULTS / f"bench-{stamp}{suffix}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
