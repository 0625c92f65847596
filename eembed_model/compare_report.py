"""comparison.md and the figures of the claims comparison, from the summary compare.py writes.

    python -m eembed_model.compare_report --out runs/claims     # redraw from runs/claims/comparison.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SET_TITLES = {"test": "in-domain test", "test-shift": "held-out sections"}
STILL_IMPROVING = 0.005   # validation micro-F1 gained over the last fifth of the steps that counts as "still improving"
UNCLEAR_GAP = 0.005       # a difference this large whose interval still includes 0 asks for 5 seeds
MORE_SEEDS = 5


def set_title(name: str) -> str:
    if name.startswith("test-noise"):
        return f"{int(name[len('test-noise'):])} % words misspelt"
    return SET_TITLES.get(name, name)


def pm(stat: dict, digits: int = 3) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def interval(entry: dict) -> str:
    """'+0.006 [-0.001, +0.012], Welch p 0.10' (the p of the per-seed scores, when there is one)."""
    text = f"{entry['difference']:+.3f} [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}]"
    if entry.get("welch_p") is not None:
        text += f", Welch p {entry['welch_p']:.2g}"
    return text


def needs_more_seeds(entry: dict) -> bool:
    """The interval includes 0 but the means differ by more than UNCLEAR_GAP, on fewer than
    MORE_SEEDS seeds a side: run MORE_SEEDS before calling it."""
    seeds = entry.get("seeds") or [MORE_SEEDS, MORE_SEEDS]
    return entry["ci_low"] <= 0 <= entry["ci_high"] and abs(entry["difference"]) > UNCLEAR_GAP \
        and min(seeds) < MORE_SEEDS


def verdict(low: float, high: float, entry: dict | None = None) -> str:
    if low > 0:
        return "supported"
    if high < 0:
        return "not supported (reversed)"
    if entry is not None and needs_more_seeds(entry):
        return f"not shown (interval includes 0; run {MORE_SEEDS} seeds)"
    return "not shown (interval includes 0)"


def beats_baseline(summary: dict, *variants: str) -> bool:
    """Every seed of every variant scores above the constant baseline on the clean test set: a
    model that does not has learned nothing from the texts, and its "robustness" means nothing."""
    baseline = summary.get("constant_baseline")
    if baseline is None:
        return True
    return all(value > baseline["test_micro_f1"] for name in variants
               for value in summary["results"][name]["summary"]["test"]["global"]["micro_f1"]["values"])


def noise_sets(summary: dict) -> list[str]:
    return sorted((s for s in summary["sets"] if s.startswith("test-noise")), key=lambda s: int(s[len("test-noise"):]))


def curve_trend(result: dict) -> str:
    """'still improving' when the seed-mean validation micro-F1 rose by STILL_IMPROVING or more over
    the last fifth of the fine-tuning steps, else 'flat'."""
    curves = [seed["curve"] for seed in result["seeds"] if seed["curve"]]
    if not curves or len(curves[0]) < 2:
        return "no curve"
    steps = [p["step"] for p in curves[0]]
    mean = np.mean([[p["val_micro_f1"] for p in c] for c in curves], axis=0)
    earlier = max(i for i, s in enumerate(steps) if s <= 0.8 * steps[-1]) if steps[0] <= 0.8 * steps[-1] else 0
    gain = mean[-1] - mean[earlier]
    return f"still improving (+{gain:.3f})" if gain >= STILL_IMPROVING else f"flat ({gain:+.3f})"


def training_minutes(summary: dict) -> float:
    """Pretraining (each shared run once) plus every fine-tuning run."""
    pretraining = {r["pretraining"]: r["pretraining_seconds"] for r in summary["results"].values()}
    fine_tuning = sum(sum(r["fine_tuning_seconds"]["values"]) for r in summary["results"].values())
    return (sum(pretraining.values()) + fine_tuning) / 60


def results_table(summary: dict) -> str:
    noisy = noise_sets(summary)
    head = ["variant", "material table", "test micro-F1", "test macro-F1", "P@1", "per-label thr. micro / macro",
            "macro-F1 frequent / medium / rare (per-label thr.)"]
    if "test-shift" in summary["sets"]:
        head.append("held-out sections micro-F1")
    head += [f"{set_title(n)}" for n in noisy] + ["fine-tuning curve"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in summary["results"].items():
        s = r["summary"]["test"]
        thirds = " / ".join(f"{b['mean']:.3f}" for b in s["per_label"]["by_frequency"])
        cells = [name, f"{r['parameters']['material_table']:,}", pm(s["global"]["micro_f1"]), pm(s["global"]["macro_f1"]),
                 pm(s["precision_at_1"]), f"{s['per_label']['micro_f1']['mean']:.3f} / {s['per_label']['macro_f1']['mean']:.3f}",
                 thirds]
        if "test-shift" in summary["sets"]:
            cells.append(pm(r["summary"]["test-shift"]["global"]["micro_f1"]))
        cells += [pm(r["summary"][n]["global"]["micro_f1"]) for n in noisy]
        cells.append(curve_trend(r))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def pairs_table(summary: dict) -> str:
    rows = ["| A − B | set | Δ micro-F1 [95 % CI, seeds and texts] | Δ macro-F1 [95 % CI] |", "|---|---|---|---|"]
    for entry in summary["comparisons"]:
        for name, diff in entry["sets"].items():
            flag = f" (needs {MORE_SEEDS} seeds)" if needs_more_seeds(diff["micro_f1"]) else ""
            rows.append(f"| {entry['a']} − {entry['b']} | {set_title(name)} | {interval(diff['micro_f1'])}{flag} | "
                        f"{interval(diff['macro_f1'])} |")
    return "\n".join(rows)


def degradation_table(summary: dict) -> str:
    rows = ["| A vs B | set | change of A | change of B | (A − B) [95 % CI] |", "|---|---|---|---|---|"]
    for d in summary["degradation"]:
        flag = f" (needs {MORE_SEEDS} seeds)" if needs_more_seeds(d) else ""
        rows.append(f"| {d['a']} vs {d['b']} | {set_title(d['set'])} | {pm(d['change_a'])} | {pm(d['change_b'])} | "
                    f"{d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{flag} |")
    return "\n".join(rows)


def seed_counts(summary: dict) -> str:
    """'Seeds [0, 1, 2]' or, where variants differ, 'Seeds [0, 1, 2] ([0, 1, 2, 3, 4] for a, b)'."""
    base = summary["seeds"]
    more = {name: r["seed_values"] for name, r in summary["results"].items() if r.get("seed_values", base) != base}
    if not more:
        return f"Seeds {base}"
    groups: dict[str, list[str]] = {}
    for name, seeds in more.items():
        groups.setdefault(str(seeds), []).append(name)
    return f"Seeds {base} (" + "; ".join(f"{seeds} for {', '.join(names)}" for seeds, names in groups.items()) + ")"


def undecided_variants(summary: dict) -> list[str]:
    """The variants of every difference that asks for MORE_SEEDS seeds (pairs and changes)."""
    entries = [(e["a"], e["b"], diff[metric]) for e in summary["comparisons"] for diff in e["sets"].values()
               for metric in ("micro_f1", "macro_f1")]
    entries += [(d["a"], d["b"], d) for d in summary["degradation"]]
    names = {side for a, b, entry in entries if needs_more_seeds(entry) for side in (a, b)}
    return [name for name in summary["results"] if name in names]


def _pair(summary: dict, a: str, b: str) -> dict | None:
    return next((e for e in summary["comparisons"] if e["a"] == a and e["b"] == b), None)


def _degradation(summary: dict, a: str, b: str, name: str) -> dict | None:
    return next((d for d in summary["degradation"] if d["a"] == a and d["b"] == b and d["set"] == name), None)


def claims_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(claim, experiment, result, verdict) for the claims table."""
    results, rows = summary["results"], []
    untested = "untested (variant not run)"
    if "elementwise" in results and "subword" in results:
        ee, sw = results["elementwise"]["parameters"], results["subword"]["parameters"]
        ratio = sw["material_table"] / ee["material_table"]
        rows.append(("(a) fewer embedding parameters", "material table size, same encoder",
                     f"{ee['material_table']:,} vs {sw['material_table']:,} ({ratio:.0f}x fewer)",
                     "supported" if ratio > 1 else "not supported"))
    pair = _pair(summary, "elementwise", "subword")
    if pair:
        test = pair["sets"]["test"]
        rows.append(("(b) better than subword on domain-specific multilabel data",
                     f"test micro-F1, {' vs '.join(map(str, test['micro_f1'].get('seeds', [len(summary['seeds'])])))} "
                     "seeds, bootstrap over seeds and texts",
                     f"Δ {interval(test['micro_f1'])}",
                     verdict(test["micro_f1"]["ci_low"], test["micro_f1"]["ci_high"], test["micro_f1"])))
        rare = [results[n]["summary"]["test"]["per_label"]["by_frequency"][2] for n in ("elementwise", "subword")]
        rows.append(("(b) … on imbalanced labels", "test macro-F1 (all labels; rare third with per-label thresholds)",
                     f"Δ macro {interval(test['macro_f1'])}; rare third {pm(rare[0])} vs {pm(rare[1])}",
                     verdict(test["macro_f1"]["ci_low"], test["macro_f1"]["ci_high"], test["macro_f1"])))
    else:
        rows.append(("(b) better than subword", "elementwise vs subword", "—", untested))
    balanced = _pair(summary, "elementwise-balanced", "subword-balanced")
    if balanced:
        test = balanced["sets"]["test"]
        rows.append(("(b) … with a class-balanced loss on both sides", "test macro-F1, bootstrap over seeds and texts",
                     f"Δ macro {interval(test['macro_f1'])}; Δ micro {interval(test['micro_f1'])}",
                     verdict(test["macro_f1"]["ci_low"], test["macro_f1"]["ci_high"], test["macro_f1"])))
    for name, claim in ((noise_sets(summary)[-1] if noise_sets(summary) else None, "(c) robust to misspelt words"),
                        ("test-shift" if "test-shift" in summary["sets"] else None, "(c) robust to domain shift")):
        d = _degradation(summary, "elementwise", "subword", name) if name else None
        if d is None:
            rows.append((claim, "micro-F1 change from the clean test set", "—", "untested (set not built)"))
            continue
        on_set = pair["sets"][name]["micro_f1"] if pair else None
        level = f"; on that set itself elementwise − subword {interval(on_set)}" if on_set else ""
        said = verdict(d["ci_low"], d["ci_high"], d)
        if said == "supported" and on_set and on_set["ci_low"] <= 0:
            said = "smaller drop only: not a higher score on that set"
        if not beats_baseline(summary, d["a"], d["b"]):
            said = (f"not counted: a clean score does not beat the constant baseline "
                    f"({summary['constant_baseline']['test_micro_f1']:.3f})")
        rows.append((claim, f"micro-F1 change, test → {set_title(name)} (A − B > 0: elementwise loses less)",
                     f"{pm(d['change_a'])} vs {pm(d['change_b'])}; A − B {d['difference']:+.3f} "
                     f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{level}", said))
    albert = _pair(summary, "albert-elementwise", "albert-subword")
    if albert:
        test = albert["sets"]["test"]
        rows.append(("(d) transfers to ALBERT", "AlbertModel, elementwise vs subword, test micro-F1",
                     f"Δ {interval(test['micro_f1'])}",
                     verdict(test["micro_f1"]["ci_low"], test["micro_f1"]["ci_high"], test["micro_f1"])))
    else:
        rows.append(("(d) transfers to ALBERT", "AlbertModel", "—", untested))
    canine = _pair(summary, "canine-elementwise", "canine-hash")
    if canine:
        test = canine["sets"]["test"]
        rows.append(("(d) transfers to CANINE", "CanineModel, characters' bytes vs its hash embedding, test micro-F1",
                     f"Δ {interval(test['micro_f1'])}",
                     verdict(test["micro_f1"]["ci_low"], test["micro_f1"]["ci_high"], test["micro_f1"])))
    else:
        rows.append(("(d) transfers to CANINE", "CanineModel, elementwise vs hash", "—", untested))
    free = summary["alignment"].get("elementwise")
    if free:
        first = np.asarray(free["own_byte_share"][0])
        rows.append(("mechanism: head n reads byte n (free model)", "own-byte share of first-layer Q/K/V weight energy",
                     f"{100 * first.min():.1f}–{100 * first.max():.1f} % per head, uniform {100 * free['uniform_share']:.1f} %",
                     "not what the weights do" if first.mean() < 2 * free["uniform_share"] else "supported"))
    aligned = _pair(summary, "aligned", "elementwise")
    if aligned:
        test = aligned["sets"]["test"]
        rows.append(("mechanism: making it literal helps", "aligned − free elementwise, test micro-F1",
                     f"Δ {interval(test['micro_f1'])}",
                     verdict(test["micro_f1"]["ci_low"], test["micro_f1"]["ci_high"], test["micro_f1"])))
    spelled = _pair(summary, "elementwise", "elementwise-truncate")
    if spelled:
        test = spelled["sets"]["test"]
        noisy = noise_sets(summary)
        drop = _degradation(summary, "elementwise", "elementwise-truncate", noisy[-1]) if noisy else None
        change = (f"; change to {set_title(drop['set'])}: A − B {drop['difference']:+.3f} "
                  f"[{drop['ci_low']:+.3f}, {drop['ci_high']:+.3f}]") if drop else ""
        rows.append(("input: long words spelled on, not cut at v bytes", "spelled − truncated elementwise, test micro-F1",
                     f"Δ {interval(test['micro_f1'])}{change}",
                     verdict(test["micro_f1"]["ci_low"], test["micro_f1"]["ci_high"], test["micro_f1"])))
    return rows


def claims_table(summary: dict) -> str:
    rows = ["| claim | experiment | result | verdict |", "|---|---|---|---|"]
    rows += [f"| {' | '.join(row)} |" for row in claims_rows(summary)]
    return "\n".join(rows)


def markdown(summary: dict) -> str:
    sizes = ", ".join(f"{set_title(n)} {summary['set_sizes'][n]:,}" for n in summary["sets"])
    undecided = undecided_variants(summary)
    return "\n\n".join([
        f"Data `{summary['data']}` ({sizes} texts; {summary['labels']} labels). {seed_counts(summary)}; "
        f"{summary['mlm_steps']} pretraining and {summary['multilabel_steps']} fine-tuning steps. "
        "Mean ± sd over seeds; thresholds chosen on validation. Intervals: 95 % hierarchical bootstrap "
        f"({summary.get('resamples', 1000):,} resamples: each side's seeds drawn with replacement, then the texts), "
        "with Welch's p of the per-seed scores. Robustness counts only when every seed's clean score beats "
        + (f"the constant baseline (the {summary['constant_baseline']['k']} most frequent labels for every text: "
           f"test micro-F1 {summary['constant_baseline']['test_micro_f1']:.3f})."
           if summary.get("constant_baseline") else "the constant baseline."),
        "## Claims", claims_table(summary),
        "## Every variant", results_table(summary),
        "## Paired differences", pairs_table(summary),
        "## Change from the clean test set", degradation_table(summary),
        *([f"Differences marked *needs {MORE_SEEDS} seeds* are settled by the command below with "
           f"`--more-seeds {','.join(undecided)}` (earlier runs are reused)."] if undecided else []),
        f"Command: `{summary['command']}`. Training time, summed over runs (one CPU thread each): "
        f"{training_minutes(summary):.0f} min; this invocation took {summary['wall_seconds'] / 60:.0f} min "
        "(runs already in the output folder are reused).",
    ]) + "\n"


# ------------------------------------------------------------------ figures

def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def robustness_figure(summary: dict):
    plt = _pyplot()
    noisy = noise_sets(summary)
    rates = [0] + [int(n[len("test-noise"):]) for n in noisy]
    has_shift = "test-shift" in summary["sets"]
    fig, axes = plt.subplots(1, 2 if has_shift else 1, figsize=(11 if has_shift else 6, 4), squeeze=False)
    names = list(summary["results"])
    for name in names:
        s = summary["results"][name]["summary"]
        stats = [s[n]["global"]["micro_f1"] for n in ["test", *noisy]]
        axes[0, 0].errorbar(rates, [x["mean"] for x in stats], yerr=[x["sd"] for x in stats], marker="o",
                            capsize=3, label=name, linestyle="--" if "subword" in name else "-")
    axes[0, 0].set_xlabel("% of words misspelt")
    axes[0, 0].set_ylabel("test micro-F1 (mean ± sd over seeds)")
    axes[0, 0].set_title("Character noise")
    axes[0, 0].legend(fontsize=7, ncol=2, loc="lower left")
    if has_shift:
        x = np.arange(len(names))
        for offset, (set_name, label) in enumerate((("test", "in-domain test"), ("test-shift", "held-out sections"))):
            stats = [summary["results"][n]["summary"][set_name]["global"]["micro_f1"] for n in names]
            axes[0, 1].bar(x + 0.4 * offset - 0.2, [s["mean"] for s in stats], 0.4, yerr=[s["sd"] for s in stats],
                           capsize=3, label=label)
        axes[0, 1].set_xticks(x, names, rotation=30, ha="right", fontsize=7)
        axes[0, 1].set_title("Domain shift")
        axes[0, 1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def curves_figure(summary: dict):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in summary["results"].items():
        curves = [seed["curve"] for seed in r["seeds"] if seed["curve"]]
        if curves:
            steps = [p["step"] for p in curves[0]]
            values = np.array([[p["val_micro_f1"] for p in c] for c in curves])
            axes[0].plot(steps, values.mean(0), label=name, linestyle="--" if "subword" in name else "-")
            axes[0].fill_between(steps, values.min(0), values.max(0), alpha=0.15)
    axes[0].set_xlabel("fine-tuning step")
    axes[0].set_ylabel("validation micro-F1 (1,000 texts)")
    axes[0].set_title("Fine-tuning (line: seed mean, band: seed range)")
    axes[0].legend(fontsize=7)
    seen = set()
    for r in summary["results"].values():
        if r["pretraining"] in seen or not r["pretraining_curve"]:
            continue
        seen.add(r["pretraining"])
        axes[1].plot([p["step"] for p in r["pretraining_curve"]], [p["val_mlm_loss"] for p in r["pretraining_curve"]],
                     label=r["pretraining"], linestyle="--" if "subword" in r["pretraining"] else "-")
    axes[1].set_xlabel("pretraining step")
    axes[1].set_ylabel("validation masked-material loss")
    axes[1].set_title("Pretraining (each model's own objective)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def alignment_figure(alignment: dict):
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(alignment), figsize=(3.4 * len(alignment) + 1, 3), squeeze=False,
                             gridspec_kw={"wspace": 0.35})
    for axis, (name, entry) in zip(axes[0], alignment.items()):
        values = 100 * np.asarray(entry["own_byte_share"])
        image = axis.imshow(values, cmap="magma", vmin=0, vmax=100, aspect="auto")
        for (row, col), value in np.ndenumerate(values):
            axis.text(col, row, f"{value:.0f}", ha="center", va="center", fontsize=7,
                      color="white" if value < 60 else "black")
        axis.set_title(f"{name}\n(uniform {100 * entry['uniform_share']:.1f} %)", fontsize=9)
        axis.set_xticks(range(values.shape[1]))
        axis.set_yticks(range(values.shape[0]))
        axis.set_xlabel("head n")
        axis.set_ylabel("layer")
    fig.colorbar(image, ax=axes[0].tolist(), label="% of head n's Q/K/V weight energy from byte n")
    return fig


def write_report(summary: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "comparison.md").write_text(markdown(summary))
    figures = {"robustness.png": robustness_figure(summary), "curves.png": curves_figure(summary)}
    if summary["alignment"]:
        figures["alignment.png"] = alignment_figure(summary["alignment"])
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        _pyplot().close(figure)  # a long-lived caller (tests, a notebook) would otherwise keep every figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eembed_model.compare_report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a directory written by python -m eembed_model.compare")
    args = parser.parse_args(argv)
    path = Path(args.out) / "comparison.json"
    if not path.is_file():
        print(f"error: no comparison.json in {args.out}; run 'python -m eembed_model.compare' first", file=sys.stderr)
        return 2
    write_report(json.loads(path.read_text()), Path(args.out))
    print((Path(args.out) / "comparison.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
