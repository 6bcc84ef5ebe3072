"""The `harness` command: run, evaluate, status, report, regress, validate, list, schema, render."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_SLOWER = 0, 1, 2, 3


def _load(args):
    """(suite, specs, hash) of the suite the command line names, or exit 2 with the suite's one-line
    error (nothing written). Every command loads through here, so the same ``--set`` overrides
    (:mod:`harness.suite.overrides`, applied before validation) and ``--smoke`` (the suite shrunk to
    a smoke run, :mod:`harness.suite.smoke`, before expanding) give the same runs everywhere."""
    from harness.suite import SuiteError, expand, load_suite, suite_hash
    from harness.suite.smoke import smoke as smoke_suite, summary

    path, smoke, overrides = args.suite, getattr(args, "smoke", False), getattr(args, "overrides", None) or []
    try:
        suite = load_suite(Path(path), overrides)
        if smoke:
            suite = smoke_suite(suite)
        specs = expand(suite)
    except SuiteError as err:
        print(str(err), file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except FileNotFoundError:
        print(f"{path}: no such suite file", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    if overrides:
        print(f"with {' '.join(f'--set {o}' for o in overrides)}: suite {suite.name} ({len(specs)} runs)")
    if smoke:
        print(summary(suite, len(specs)))
    return suite, specs, suite_hash(Path(path), overrides)


def _out_dir(args, suite) -> Path:
    return Path(args.out) if args.out else Path("runs") / suite.name


def _report_dir(args, suite) -> Path:
    return Path(args.report_dir) if getattr(args, "report_dir", None) else Path("reports") / suite.name


def _provenance(suite, suite_hash: str, specs, out_dir: Path, smoke: bool = False) -> dict:
    """Suite-level provenance for reports: code, libraries, devices and simulators the runs used,
    ``smoke: true`` for a smoke run (``suite_hash`` is then the hash of the full suite's file) and
    the ``--set`` overrides the suite was loaded with (``suite_hash`` covers them)."""
    from harness import provenance
    from harness.analysis.frame import load_runs
    from harness.suite.overrides import overrides_of

    info = provenance.collect()
    runs = load_runs(out_dir, specs=specs)
    devices = sorted({d for d in runs["device"] if d}) if len(runs) else []
    sims = sorted({s for s in runs["simulator"] if s}) if len(runs) else []
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists():
        info |= {f"run.{k}": v for k, v in json.loads(manifest_path.read_text()).get("provenance", {}).items()
                 if k in ("git_commit", "git_dirty", "collected_at", "device_name")}
    info |= {"suite": suite.name, "suite_hash": suite_hash, "seeds": ",".join(map(str, suite.seed_list)),
             "devices_used": ",".join(devices) or "none yet", "simulators": ",".join(sims) or "none yet",
             "runs": str(len(specs))}
    if smoke:
        info["smoke"] = "true"
    if overrides_of(suite):
        info["overrides"] = list(overrides_of(suite))
    return info


def cmd_validate(args) -> int:
    suite, specs, _ = _load(args)
    print(f"OK: {args.suite}: suite {suite.name!r}, {len(specs)} runs")
    return EXIT_OK


def cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    suite, specs, _ = _load(args)
    table = Table(title=f"{suite.name}: {len(specs)} runs")
    for col in ("run id", "algorithm", "scenario", "seed", "budget", "eval sets"):
        table.add_column(col)
    for s in specs:
        table.add_row(s.run_id, s.row_name, s.scenario, str(s.seed), f"{s.budget_env_steps:,}",
                      ", ".join(["train", *s.eval_sets]))
    Console().print(table)
    return EXIT_OK


def cmd_schema(args) -> int:
    from harness.plugins import PluginError
    from harness.suite import suite_schema

    try:
        text = json.dumps(suite_schema(), indent=2)
    except PluginError as err:   # the schema lists plug-in names too: a broken one is named, not hidden
        print(f"harness schema: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text)
    return EXIT_OK


def cmd_status(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.store import RunFiles

    suite, specs, _ = _load(args)
    out = _out_dir(args, suite)
    counts: dict[str, int] = {}
    table = Table(title=f"{suite.name} ({out})")
    for col in ("run id", "run", "status", "env steps", "retries", "reason"):
        table.add_column(col)
    retried = 0
    for s in specs:
        files = RunFiles.for_spec(out, s)
        st = files.status()
        status = "interrupted" if files.is_stale(st) else st["status"]
        counts[status] = counts.get(status, 0) + 1
        # resubmissions after a worker died (ray) and requeues after a time limit or preemption (slurm)
        retries = int(st.get("retries", 0) or 0) + int(st.get("requeues", 0) or 0)
        retried += retries > 0
        table.add_row(s.run_id, s.label, status, str(st.get("t_env", "")), str(retries or ""),
                      st.get("reason", "") or "")
    Console().print(table)
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
          + (f" ({retried} retried after a worker died or a time limit)" if retried else ""))
    return EXIT_OK


def _report_fingerprint(out: Path, specs) -> str:
    from harness.store import RunFiles

    parts = []
    for s in specs:
        f = RunFiles.for_spec(out, s)
        parts.append(f"{s.run_id}:{f.status().get('status')}:{f.evals_path.stat().st_size if f.evals_path.exists() else 0}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _report(args, suite, specs, suite_hash: str, force: bool = True) -> int:
    from harness.analysis.frame import load_frame, load_runs

    out, report_dir = _out_dir(args, suite), _report_dir(args, suite)
    stamp = report_dir / ".fingerprint"
    fingerprint = _report_fingerprint(out, specs) + suite_hash
    if not force and stamp.exists() and stamp.read_text() == fingerprint and (report_dir / "summary.md").exists():
        print(f"report up to date: {report_dir}")
        print((report_dir / "summary.md").read_text())
        return EXIT_OK
    from harness.reports.build import build_report

    ids = [s.run_id for s in specs]
    frame, runs = load_frame(out, ids), load_runs(out, ids, specs)
    result = build_report(frame, runs, suite, report_dir,
                          _provenance(suite, suite_hash, specs, out, smoke=getattr(args, "smoke", False)),
                          k=suite.evaluation.final_k)
    (report_dir / "summary.md").write_text(result.markdown)
    from harness.analysis.marl_eval import to_marl_eval, write_json

    write_json(to_marl_eval(frame, env_name=_env_family(specs), metric=["win_rate", "return_mean"],
                            k=suite.evaluation.final_k), report_dir / "marl_eval.json")
    stamp.write_text(fingerprint)
    print(f"report written to {report_dir}")
    print(result.markdown)
    return EXIT_OK


def _env_family(specs) -> str:
    from harness.envs import scenario

    families = sorted({scenario(s.scenario).family for s in specs})
    return families[0] if len(families) == 1 else "mixed"


def cmd_import_marl_eval(args) -> int:
    """Report on results from another framework given as marl-eval JSON (nothing is run)."""
    from harness.analysis.frame import FRAME_COLUMNS
    from harness.analysis.marl_eval import from_marl_eval, read_json
    from harness.reports.build import build_report
    from harness.suite.models import Budget, Evaluation, Suite

    import pandas as pd

    try:
        frame = from_marl_eval(read_json(args.file), suite=args.name)
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"{args.file}: not readable as marl-eval JSON: {err}", file=sys.stderr)
        return EXIT_USAGE
    if frame.empty:
        print(f"{args.file}: no runs found", file=sys.stderr)
        return EXIT_USAGE
    frame = frame[FRAME_COLUMNS]
    steps = sorted(frame["step"].unique())
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    budget = max(int(steps[-1]), 1)
    suite = Suite(name=args.name, seeds=sorted(int(x) for x in frame["seed"].unique()),
                  budget=Budget(env_steps=budget), evaluation=Evaluation(interval=min(gaps or [budget]), final_k=args.k),
                  algorithms=sorted(frame["algorithm"].unique()), scenarios=sorted(frame["scenario"].unique()))
    runs = frame.groupby("run_id").first().reset_index()[["run_id", "suite", "algorithm", "scenario", "seed", "status"]]
    runs = runs.assign(reason="", device="", simulator="")
    report_dir = Path(args.report_dir) if args.report_dir else Path("reports") / args.name
    result = build_report(frame, pd.DataFrame(runs), suite, report_dir,
                          {"source": str(args.file), "suite": args.name, "imported": "marl-eval JSON"}, k=args.k)
    (report_dir / "summary.md").write_text(result.markdown)
    print(f"report written to {report_dir}")
    print(result.markdown)
    return EXIT_OK


def cmd_report(args) -> int:
    suite, specs, h = _load(args)
    return _report(args, suite, specs, h, force=True)


def cmd_run(args) -> int:
    from harness import provenance
    from harness.runner.executors import ExecutorOptions
    from harness.runner.suite_runner import run_specs, write_manifest
    from harness.suite.overrides import overrides_of
    from harness.tracking import Tracker

    suite, specs, h = _load(args)
    out = _out_dir(args, suite)
    write_manifest(out, suite.name, Path(args.suite), h, specs,
                   provenance.collect() | ({"smoke": True} if args.smoke else {})
                   | ({"overrides": list(overrides_of(suite))} if overrides_of(suite) else {}))
    prov = json.loads((out / "manifest.json").read_text())["provenance"]
    tracker_factory = None if args.no_tracking else (lambda: Tracker(out, suite.name, args.tracking_uri, prov))
    options = ExecutorOptions(resources=suite.resources, address=args.address, slurm_cluster=args.slurm_cluster,
                              slurm_folder=Path(args.slurm_folder) if args.slurm_folder else None,
                              shared_fs=not args.no_shared_fs)
    outcome = run_specs(specs, out, suite_name=suite.name, workers=args.workers, executor=args.executor,
                        tracker_factory=tracker_factory, retry_failed=args.retry_failed,
                        group_seeds=suite.training.group_seeds if args.group_seeds is None else args.group_seeds,
                        executor_options=options)
    if outcome.interrupted:
        _exit_interrupted(f"finished work is kept in {out}")
    ran = len(outcome.done) + len(outcome.failed)
    if ran == 0:
        print(f"all {outcome.total} runs of {suite.name} already done ({outcome.skipped} skipped) in {out}")
    else:
        print(f"{suite.name}: {len(outcome.done)} runs finished, {len(outcome.failed)} failed, "
              f"{outcome.skipped} already done; results in {out}")
    for label, reason in outcome.failed:
        print(f"  failed: {label}: {reason}", file=sys.stderr)
    for label in outcome.busy:
        print(f"  skipped: {label} is being executed by another harness process", file=sys.stderr)
    if not args.no_report:
        return _report(args, suite, specs, h, force=ran > 0)
    return EXIT_OK


def _eval_sets(texts: list[str], suite) -> dict[str, dict[str, object]]:
    """``--eval [SCENARIO:]NAME=SPEC`` texts as {scenario: {name: CompositionSpec}}, SPEC read as a YAML
    composition (``{agents: 6}``, ``{teams: [[B, B]]}``); every problem exits 2 naming the text."""
    import yaml
    from pydantic import ValidationError

    from harness.envs import registry as scenario_registry
    from harness.suite.models import Composition

    scenarios = [e.name for e in suite.scenario_entries]
    out: dict[str, dict[str, object]] = {}

    def fail(text: str, message: str) -> NoReturn:
        print(f"--eval {text}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    for text in texts:
        target, eq, body = text.partition("=")
        if not eq or not target:
            fail(text, "expected [SCENARIO:]NAME=SPEC, e.g. 8={agents: 8} or SZ:8={agents: 8}")
        scenario, colon, name = target.rpartition(":")
        if colon and scenario not in scenarios:
            fail(text, f"scenario {scenario!r} is not in suite {suite.name!r}; its scenarios: {', '.join(scenarios)}")
        try:
            data = yaml.safe_load(body)
            composition = Composition.model_validate(data).to_spec()
        except (yaml.YAMLError, ValidationError, ValueError) as err:
            detail = "; ".join(e["msg"] for e in err.errors()) if isinstance(err, ValidationError) else str(err)
            fail(text, f"SPEC must be a composition mapping (agents, enemies, units, weights or teams): {detail}")
        for entry in suite.scenario_entries:
            if colon and entry.name != scenario:
                continue
            if name == "train" or name in entry.eval:
                fail(text, f"{entry.name!r} already has an evaluation set {name!r}; give the new set another name")
            try:
                scenario_registry.validate_composition(entry.name, composition)
            except ValueError as err:
                fail(text, f"not a valid composition for {entry.name}: {err}")
            out.setdefault(entry.name, {})[name] = composition
    return out


def _overlap_problem(scenario: str, train, name: str, composition) -> str | None:
    from harness.suite.checks import shared_compositions

    shared = shared_compositions(scenario, train, composition)
    if not shared:
        return None
    return (f"eval set {name!r} shares {len(shared)} composition(s) with the training set of {scenario!r}: "
            f"{', '.join(shared[:8])}{' and more' if len(shared) > 8 else ''}; pass --allow-overlap to "
            "evaluate on training compositions on purpose")


def _checkpoint_step(text: str) -> int | None:
    """``--checkpoint``: "final" (None) or a non-negative env step."""
    if text == "final":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'final' nor an env step (a non-negative integer)")
    return int(text)


def cmd_evaluate(args) -> int:
    from harness.runner.posthoc import evaluate_run
    from harness.tracking import Tracker
    from harness.store import RunFiles

    suite, specs, h = _load(args)
    out = _out_dir(args, suite)
    sets = _eval_sets(args.eval, suite)
    if not args.allow_overlap:
        for entry in suite.scenario_entries:
            train = entry.train.to_spec() if entry.train else None
            for name, composition in sets.get(entry.name, {}).items():
                if (problem := _overlap_problem(entry.name, train, name, composition)) is not None:
                    text = next((t for t in args.eval if t.partition("=")[0].rpartition(":")[2] == name), name)
                    print(f"--eval {text}: {problem}", file=sys.stderr)
                    raise SystemExit(EXIT_USAGE)
    tracker = None
    if not args.no_tracking and (out / "manifest.json").exists():
        prov = json.loads((out / "manifest.json").read_text())["provenance"]
        tracker = Tracker(out, suite.name, args.tracking_uri, prov)
    counts: dict[str, int] = {}
    for spec in specs:
        if spec.scenario not in sets:
            continue
        try:
            outcome = evaluate_run(spec, out, sets[spec.scenario], episodes=args.episodes, device=args.device,
                                   checkpoint=args.checkpoint)
        except ValueError as err:
            print(f"{spec.label}: {err}", file=sys.stderr)
            return EXIT_USAGE
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "evaluated":
            pooled = {r["eval_set"]: r["win_rate"] for r in outcome.summary if r["composition"] == "all"}
            print(f"{spec.label}: step {outcome.step}: " + ", ".join(f"{k} win_rate={v:.3f}" for k, v in pooled.items()))
            if tracker is not None:
                tracker.log_posthoc(RunFiles.for_spec(out, spec), list(outcome.summary))
        elif outcome.status == "skipped":
            print(f"{spec.label}: skipped ({outcome.reason})")
    print(f"{suite.name}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f"; results in {out}")
    if not counts.get("evaluated") and not counts.get("up to date"):
        print("no finished run to evaluate: run the suite first (harness run SUITE)", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_report:
        return _report(args, suite, specs, h, force=True)
    return EXIT_OK


def cmd_regress(args) -> int:
    from harness.analysis.frame import load_frame, load_runs
    from harness.analysis.metrics import per_run_metrics
    from harness import regress

    suite, specs, h = _load(args)
    if args.against is not None:
        if args.record or getattr(args, "smoke", False):
            print("--against compares two commits; it takes neither --record nor --smoke (a smoke run has one "
                  "seed, and the gate needs at least 2 per pair)", file=sys.stderr)
            return EXIT_USAGE
        out, baseline = _against(args, suite, h)
    elif args.baseline is None:
        print("harness regress needs --baseline FILE (record one with --record) or --against REV", file=sys.stderr)
        return EXIT_USAGE
    else:
        out, baseline = _out_dir(args, suite), Path(args.baseline)
    if args.record:
        ids = [s.run_id for s in specs]
        per_run = per_run_metrics(load_frame(out, ids), k=suite.evaluation.final_k)
        metric = args.metric or "final_win_rate"
        regress.record_baseline(per_run, baseline, metric=metric, provenance=_provenance(suite, h, specs, out),
                                resolution=regress.win_rate_resolution(metric, suite.evaluation.episodes,
                                                                       suite.evaluation.final_k),
                                runs=load_runs(out, ids, specs))
        print(f"baseline recorded in {baseline}")
        return EXIT_OK
    result, speed = regress.gate_runs(suite, specs, out, baseline, test=args.test, alpha=args.alpha,
                                      tolerance=args.tolerance, metric=args.metric, speed=not args.no_speed,
                                      speed_tolerance=args.speed_tolerance)
    text = result.table_markdown() + ("\n" + speed.table_markdown() if speed is not None else "")
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(f"# {suite.name}: regression check\n\n"
                                     + (f"Against {args.against} (baseline {baseline}); candidate runs in {out}.\n\n"
                                        if args.against else f"Baseline {baseline}; runs in {out}.\n\n") + text)
    return _gate_exit(result, speed)


def _against(args, suite, suite_hash: str) -> tuple[Path, Path]:
    """Run the A/B (`harness.ab`): (the working tree's run folder, the revision's baseline file)."""
    from harness import ab
    from harness.suite.overrides import overrides_of

    try:
        comparison = ab.compare_against(
            Path(args.suite), args.against, name=suite.name, seeds=suite.seed_list,
            overrides=list(overrides_of(suite)), suite_hash=suite_hash, workers=args.workers,
            cache=Path(args.cache) if args.cache else ab.DEFAULT_CACHE, python=args.against_python,
            candidate_out=Path(args.out) if args.out else None)
    except ab.AgainstError as err:
        print(f"harness regress --against: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    print(f"REV {args.against} = {comparison.commit[:12]}"
          f"{' (cached)' if comparison.reused else ''}; baseline {comparison.baseline}; "
          f"working tree runs {comparison.candidate_out}")
    return comparison.candidate_out, comparison.baseline


def _gate_exit(result, speed) -> int:
    """Exit 1 on a learning regression (whatever the speed), 3 on a slowdown alone, else 0."""
    if result.regressed:
        print("REGRESSION: significant drop against the baseline"
              + ("; also significantly slower" if speed is not None and speed.slowed else ""), file=sys.stderr)
        return EXIT_REGRESSION
    if speed is not None and speed.slowed:
        print(f"SLOWER: throughput significantly below {1 - speed.tolerance:g} × the baseline's "
              f"(learning unchanged)", file=sys.stderr)
        return EXIT_SLOWER
    print("no significant regression")
    return EXIT_OK


def cmd_server(args) -> int:
    import subprocess

    from harness.server import LOCAL, ServerConfig, free_port

    config = ServerConfig(store=Path(args.store), host=args.host, port=args.port or free_port(args.host),
                          workers=args.workers)
    config.store.mkdir(parents=True, exist_ok=True)
    if config.host != LOCAL:
        print(f"warning: binding to {config.host}: MLflow's server has no authentication; anyone who can reach "
              f"this port can read and write every run", file=sys.stderr)
    print(f"MLflow tracking server at {config.uri} (store {config.store.resolve()}); point runs at it with "
          f"harness run SUITE --tracking-uri {config.uri}", flush=True)
    try:
        return subprocess.run(config.command()).returncode
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_render(args) -> int:
    from harness.envs.combat.render import record_episode

    path = record_episode(args.scenario, policy=args.policy, path=Path(args.out), seed=args.seed)
    print(f"wrote {path}")
    return EXIT_OK


def _exit_interrupted(kept: str = "finished work is kept") -> NoReturn:
    """Say so and leave with status 130 at once: all state is already on disk, and interpreter
    shutdown after a Ctrl-C can itself be interrupted by a signal still in flight (exit status -2)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean exit short
    print(f"interrupted: {kept}; run the same command to resume", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def suite_cmd(name: str, help_: str, out: bool = True, smoke: bool = False):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("suite", help="suite YAML file, e.g. suites/quickstart.yaml")
        sp.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a key of the suite, VALUE read as YAML (repeatable): seeds=2, "
                             "budget.env_steps=20000, algorithms=[qmix]; the suite gets its own name "
                             "<suite>-set-<hash>, so its runs and report never mix with the file's")
        if out:
            sp.add_argument("--out", help="run output folder (default runs/<suite>)")
        if smoke:
            sp.add_argument("--smoke", action="store_true",
                            help="the suite's smoke run: every pairing, one seed, a few thousand env steps, "
                                 "under its own name <suite>-smoke (runs/ and reports/ folders of its own)")
        return sp

    sp = suite_cmd("run", "run every (algorithm × scenario × seed) of a suite, then write its report", smoke=True)
    sp.add_argument("--workers", type=int, default=1, help="parallel runs (local process pool)")
    sp.add_argument("--executor", default="auto", choices=["auto", "inline", "process", "ray", "slurm"],
                    help="auto: inline for one worker, else a local process pool; ray: Ray tasks (docs/cluster.md); "
                         "slurm: a Slurm array job through submitit")
    sp.add_argument("--address", help="Ray: the cluster to join (e.g. auto, ray://head:10001); default: start one here")
    sp.add_argument("--slurm-cluster", choices=["slurm", "local", "debug"],
                    help="submitit's executor (default: slurm where sbatch exists, else local)")
    sp.add_argument("--slurm-folder", help="submitit's job folder (default: <out>/slurm)")
    sp.add_argument("--no-shared-fs", action="store_true",
                    help="Ray: the nodes share no file system with the driver; run folders travel with the tasks")
    sp.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite in the run folder)")
    sp.add_argument("--no-tracking", action="store_true", help="do not mirror runs into MLflow")
    sp.add_argument("--no-report", action="store_true", help="skip the report at the end")
    sp.add_argument("--report-dir", help="report folder (default reports/<suite>)")
    sp.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    sp.add_argument("--group-seeds", action=argparse.BooleanOptionalAction, default=None,
                    help="train the seeds of each setting as one run group (default: the suite's "
                         "training.group_seeds, itself true by default); results are the same either way")
    sp.set_defaults(func=cmd_run)
    suite_cmd("status", "show done / running / failed / pending runs", smoke=True).set_defaults(func=cmd_status)
    sp = suite_cmd("report", "regenerate tables and plots from the recorded runs (runs nothing)", smoke=True)
    sp.add_argument("--report-dir", help="report folder (default reports/<suite>)")
    sp.set_defaults(func=cmd_report)
    sp = suite_cmd("evaluate", "evaluate the finished runs' final checkpoints (or snapshots) on new evaluation "
                               "sets (no training), then update the report", smoke=True)
    sp.add_argument("--eval", action="append", required=True, metavar="[SCENARIO:]NAME=SPEC",
                    help="a new evaluation set, SPEC a YAML composition: '8={agents: 8}', "
                         "'mipi_matrix:AA={teams: [[A, A]]}' (repeatable; without SCENARIO: every scenario)")
    sp.add_argument("--episodes", type=int, help="episodes per set (default: the suite's evaluation.episodes)")
    sp.add_argument("--device", help="device to evaluate on (default: the runs' own)")
    sp.add_argument("--checkpoint", type=_checkpoint_step, default=None, metavar="final|STEP",
                    help="the state that plays: the final checkpoint (default) or the snapshot kept at env step "
                         "STEP (suites keep snapshots with training.snapshot_interval)")
    sp.add_argument("--allow-overlap", action="store_true", help="allow sets that share training compositions")
    sp.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite in the run folder)")
    sp.add_argument("--no-tracking", action="store_true", help="do not log the results to MLflow")
    sp.add_argument("--no-report", action="store_true", help="do not regenerate the report")
    sp.add_argument("--report-dir", help="report folder (default reports/<suite>)")
    sp.set_defaults(func=cmd_evaluate)
    sp = suite_cmd("regress", "compare fresh results with a recorded baseline (exit 1 on a learning "
                             "regression, 3 on a slowdown alone)")
    sp.add_argument("--baseline", help="baseline JSON file (not with --against)")
    sp.add_argument("--against", metavar="REV", help="A/B: run the suite at git revision REV and at the working "
                    "tree, seed by seed in turn on this machine, and compare them (REV's results are cached)")
    sp.add_argument("--against-python", metavar="PYTHON", help="interpreter for REV (default: this one, with "
                    "REV's source first on the path)")
    sp.add_argument("--cache", help="where --against keeps REV's checkout and results "
                    "(default $MARL_HARNESS_CACHE/against or ~/.cache/marl-harness/against)")
    sp.add_argument("--workers", type=int, default=1, help="parallel runs per side with --against")
    sp.add_argument("--output", "-o", help="also write the comparison as Markdown to this file")
    sp.add_argument("--record", action="store_true", help="record the current results as the baseline")
    sp.add_argument("--metric", default=None, help="default: the baseline's metric when comparing, final_win_rate when recording")
    sp.add_argument("--test", default="welch", choices=["welch", "mannwhitney"])
    sp.add_argument("--alpha", type=float, default=0.05)
    sp.add_argument("--tolerance", type=float, default=0.0,
                    help="allowed drop before a test can fire (at least the metric's resolution, 1/episodes)")
    sp.add_argument("--speed-tolerance", type=float, default=0.1,
                    help="allowed slowdown of training throughput, as a fraction (default 0.1: 10 %%)")
    sp.add_argument("--no-speed", action="store_true", help="compare learning only")
    sp.set_defaults(func=cmd_regress)
    suite_cmd("validate", "check a suite file (exit 2 with file:line: key: error)", out=False).set_defaults(
        func=cmd_validate)
    suite_cmd("list", "list the runs a suite expands to", out=False, smoke=True).set_defaults(func=cmd_list)
    sp = sub.add_parser("import-marl-eval", help="report on results given as marl-eval JSON")
    sp.add_argument("file", help="marl-eval JSON file")
    sp.add_argument("--name", default="imported", help="name of the report (default: imported)")
    sp.add_argument("--report-dir", help="report folder (default reports/<name>)")
    sp.add_argument("--k", type=int, default=1, help="final metrics = mean of the last k evaluations")
    sp.set_defaults(func=cmd_import_marl_eval)
    sp = sub.add_parser("schema", help="print the JSON schema of the suite format")
    sp.add_argument("--output", "-o", help="write to this file instead of stdout")
    sp.set_defaults(func=cmd_schema)
    sp = sub.add_parser("server", help="start an MLflow tracking server over a store (127.0.0.1 unless --host)")
    sp.add_argument("--store", default="mlruns-server", help="folder of the server's database and artifacts")
    sp.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    sp.add_argument("--port", type=int, default=5000, help="port (0: any free one)")
    sp.add_argument("--workers", type=int, default=1, help="server worker processes (1 keeps SQLite writes serial)")
    sp.set_defaults(func=cmd_server)

    sp = sub.add_parser("render", help="record one scripted episode of a combat scenario as GIF/MP4")
    sp.add_argument("scenario")
    sp.add_argument("--policy", default="focus_fire")
    sp.add_argument("--out", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_render)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C anywhere (start-up, loading, reporting): no traceback
        _exit_interrupted()


if __name__ == "__main__":
    sys.exit(main())
