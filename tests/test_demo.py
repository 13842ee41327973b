"""`tiktok-network demo` end to end at a small size: every output, a report whose numbers are
the exports' numbers, and figures that are real PNG images."""

from __future__ import annotations

import csv
import json
import os
import subprocess

from PIL import Image

from tests.crawl_helpers import CLI

CSVS = ("parsing_list", "queue", "saved_jsons", "time_stamps", "network", "nodes", "edges")


def test_demo_writes_every_output_and_a_report_that_agrees_with_them(tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run(
        [*CLI, "demo", "--users", "2000", "--max-depth", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in CSVS:
        assert (out / f"{name}.csv").stat().st_size > 0, name
    report = out / "report"
    for name in ("report.html", "report.md", "stats.json"):
        assert (report / name).stat().st_size > 0, name
    figures = sorted((report / "figures").glob("*.png"))
    assert len(figures) >= 4
    for png in figures:
        with Image.open(png) as image:
            image.verify()  # a whole, decodable PNG
        with Image.open(png) as image:
            assert image.format == "PNG" and min(image.size) >= 100

    network = [tuple(r) for r in list(csv.reader((out / "network.csv").open(encoding="utf-8")))[1:]]
    nodes = list(csv.DictReader((out / "nodes.csv").open(encoding="utf-8", newline="")))
    parsed = {r["username"] for r in nodes if r["status"] == "1"}
    edge_set = set(network)
    core = {(a, b) for a, b in edge_set if a in parsed and b in parsed}
    mutual = sum((b, a) in edge_set for a, b in edge_set)
    stats = json.loads((report / "stats.json").read_text())
    by_label = {n["label"]: n for n in stats["networks"]}
    everything = by_label["demo crawl: everything discovered"]
    crawled = by_label["demo crawl: crawled core"]
    assert everything["edges"] == len(network) == len(edge_set)
    assert everything["nodes"] == len({u for edge in network for u in edge})
    assert abs(everything["edge_reciprocity"] - mutual / len(edge_set)) < 1e-12
    assert crawled["nodes"] == len(parsed)
    assert crawled["edges"] == len(core)
    # The demo serves the API's quirks: its coverage section is the nodes table, recounted.
    coverage = crawled["coverage"]
    for d in ("following", "followers"):
        attempted = [r for r in nodes if r[f"{d}_state"] != "pending"]
        fetched = [
            r
            for r in attempted
            if r[f"{d}_state"] in ("complete", "capped", "capped_by_choice", "hidden")
            and r[f"{d}_reported"]
        ]
        states = coverage["directions"][d]["states"]
        assert states["complete"] == sum(r[f"{d}_state"] == "complete" for r in attempted)
        assert coverage["directions"][d]["attempted"] == len(attempted)
        assert coverage["directions"][d]["missing_estimate"] == sum(
            int(r[f"{d}_reported"]) - int(r[f"{d}_received"]) for r in fetched
        )
    assert coverage["directions"]["following"]["states"]["hidden"] > 0
    assert coverage["directions"]["followers"]["states"]["capped"] > 0
    assert any("coverage_received_vs_reported" in f.name for f in figures)
    html = (report / "report.html").read_text(encoding="utf-8")
    assert f"{everything['edges']:,}" in html and "data:image/png;base64," in html
    assert f"edges: {len(network):,}" in done.stdout  # the summary says what the files hold
    # the demo's outputs carry their package, and its report its methods paragraph
    package = json.loads((out / "datapackage.json").read_text())
    described = {r["path"]: r for r in package["resources"]}
    assert {f"{name}.csv" for name in CSVS} <= set(described)
    assert package["tiktok_network"]["api_kind"] == "emulator"
    assert stats["methods"].startswith("Data were collected with tiktok-network")
    assert (
        "## Methods (generated from the crawl's provenance)" in (report / "report.md").read_text()
    )
