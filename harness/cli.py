"""``harness``: thin commands over the library; known errors become one line and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from harness.errors import EXIT_CODES, HarnessError, ValidationErrors, from_os_error, from_wrapped_os_error

INTERNAL_ERROR = 4

console = Console(stderr=False)


def _error_line(text: str) -> None:
    """Errors go out unwrapped, one per line, so FILE:LINE stays greppable."""
    sys.stderr.write(text.rstrip("\n") + "\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's usage dump is noise here)
        _error_line(f"harness: error: {message} (see 'harness --help')")
        raise SystemExit(2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of task/grid YAMLs added after the built-in tasks and $HARNESS_TASKS; "
        "its documents replace same-named ones (repeatable: the last folder wins)",
    )


def _exit_code_table() -> str:
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    return f"exit codes:\n{rows}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description=__doc__,
        epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run or resume a grid")
    run.add_argument("grid", help="grid YAML path or grid name")
    run.add_argument("--only", help="run only jobs whose label contains this glob pattern")
    run.add_argument("--force", action="store_true", help="re-run selected jobs even if done")
    run.add_argument("--results", type=Path, default=Path("results"))
    _executor_options(run)
    run.add_argument("--workers", type=int, help="local executor: worker processes (one GPU each)")
    run.add_argument("--ray-address", help="ray executor: join this running cluster (else start a local one)")
    run.add_argument("--lock", type=Path, default=Path("checkpoints.lock"))
    _common(run)

    plan = sub.add_parser("plan", help="show a grid's jobs and what would run, without running")
    plan.add_argument("grid")
    plan.add_argument("--results", type=Path, default=Path("results"))
    plan.add_argument("--lock", type=Path, default=Path("checkpoints.lock"))
    plan.add_argument("--json", action="store_true")
    _executor_options(plan)
    _common(plan)

    ev = sub.add_parser("eval", help="rank an outside intermediate-trained checkpoint against a grid")
    ev.add_argument("checkpoint", help="a model folder or a hub id (ORG/NAME[@REV] or hub:ORG/NAME[@REV])")
    ev.add_argument("--name", required=True, help="the checkpoint's name on the leaderboard and in the lock")
    ev.add_argument("--intermediate", default=None, help="the intermediate task it was trained on")
    ev.add_argument("--source-lang", default=None, help="the language of that training data")
    ev.add_argument("--source-type", default=None, choices=["english", "translated", "native"])
    ev.add_argument(
        "--grid", default="default", help="the grid (name or YAML path) whose targets it is scored on"
    )
    ev.add_argument("--results", type=Path, default=Path("results"))
    ev.add_argument("--lock", type=Path, default=Path("checkpoints.lock"))
    ev.add_argument(
        "--out", type=Path, default=Path("leaderboards/site"), help="where the leaderboard is re-rendered"
    )
    ev.add_argument(
        "--allow-pickle", action="store_true", help="trust a pickle-only (pytorch_model.bin) checkpoint"
    )
    _common(ev)

    tasks = sub.add_parser("tasks", help="list or validate task YAMLs")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True, parser_class=_Parser)
    listing = tasks_sub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    _common(listing)
    validate = tasks_sub.add_parser("validate")
    validate.add_argument("paths", nargs="*", type=Path)
    _common(validate)

    summary = sub.add_parser("summary", help="rich tables of the results store")
    summary.add_argument("--results", type=Path, default=Path("results"))
    summary.add_argument(
        "--format", choices=("rich", "markdown", "json", "csv"), default="rich", help="default: rich tables"
    )

    compare = sub.add_parser("compare", help="paired comparison of two checkpoints with CIs and p-values")
    compare.add_argument("a", help="checkpoint name (A in A − B)")
    compare.add_argument("b", help="checkpoint name (B)")
    compare.add_argument("--results", type=Path, default=Path("results"))
    compare.add_argument("--json", action="store_true")

    verdict = sub.add_parser("verdict", help="the primary endpoint of the English vs non-English contrast")
    verdict.add_argument("--results", type=Path, default=Path("results"))
    verdict.add_argument("--json", action="store_true", help="print the verdict object as JSON")
    report = sub.add_parser("report", help="render the static leaderboard")
    report.add_argument("--results", type=Path, default=Path("results"))
    report.add_argument("--out", type=Path, default=Path("leaderboards/site"))
    pack = sub.add_parser("pack", help="a compact, committable copy of a results store (no predictions)")
    pack.add_argument("--results", type=Path, default=Path("results"))
    pack.add_argument("--out", type=Path, required=True, help="a new folder or an earlier pack")

    lock = sub.add_parser("lock", help="checkpoints.lock")
    lock_sub = lock.add_subparsers(dest="lock_command", required=True, parser_class=_Parser)
    verify = lock_sub.add_parser("verify", help="re-hash every pinned checkpoint; exit 1 on a mismatch")
    verify.add_argument("--lock", type=Path, default=Path("checkpoints.lock"))
    verify.add_argument("--results", type=Path, default=Path("results"))
    add = lock_sub.add_parser("add", help="pin a checkpoint")
    add.add_argument("name")
    add.add_argument("source", help="embedded:NAME, hub:ORG/NAME[@REV] or a folder")
    add.add_argument("--lock", type=Path, default=Path("checkpoints.lock"))
    add.add_argument("--allow-pickle", action="store_true")

    score = sub.add_parser("score", help="score an XTREME submission folder as the official evaluate.py")
    score.add_argument("pred_dir", type=Path, help="submission: <task>/test-<lang>.tsv|json")
    score.add_argument("label_dir", type=Path, help="gold labels in the same layout")
    score.add_argument("--json", action="store_true", help='print {"overall": ..., "detailed": ...}')

    export = sub.add_parser("export", help="an XTREME submission, or the targets as lm-eval tasks")
    export_sub = export.add_subparsers(dest="export_command", required=True, parser_class=_Parser)
    xtreme = export_sub.add_parser("xtreme", help="the official XTREME submission layout")
    xtreme.add_argument("results", type=Path, help="the results folder")
    xtreme.add_argument("out_dir", type=Path)
    xtreme.add_argument("--checkpoint", default=None, help="checkpoint name (needed when there are several)")
    xtreme.add_argument("--seed", type=int, default=None, help="seed (needed when there are several)")
    lm_eval = export_sub.add_parser(
        "lm-eval", help="the targets as an lm-eval task folder (prompted decoder models; docs/lm-eval.md)"
    )
    lm_eval.add_argument("out_dir", type=Path, help="the folder to write (replaced as a whole)")
    lm_eval.add_argument(
        "--tasks",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATTERN",
        help="target names or shell patterns (default: every target)",
    )
    lm_eval.add_argument("--shots", type=int, default=0, help="few-shot examples (English dev, else train)")
    lm_eval.add_argument(
        "--data-dir", type=Path, default=None, help="the data folder (default: $HARNESS_DATA_DIR)"
    )
    _common(lm_eval)

    imp = sub.add_parser("import", help="bring another tool's results into the results store")
    imp_sub = imp.add_subparsers(dest="import_command", required=True, parser_class=_Parser)
    lm_import = imp_sub.add_parser("lm-eval", help="lm-eval's results JSON and --log_samples JSONL")
    lm_import.add_argument("results_dir", type=Path, help="lm-eval's --output_path (or one results JSON)")
    lm_import.add_argument("--name", required=True, help="the checkpoint name the records get")
    lm_import.add_argument("--results", type=Path, default=Path("results"))

    eval_lm = sub.add_parser("eval-lm", help="score a decoder LM prompted k-shot (lm-eval)")
    eval_lm.add_argument("model", help="a model folder or a hub id ORG/NAME")
    eval_lm.add_argument("--name", default=None, help="checkpoint name (default: <model>-<K>shot)")
    eval_lm.add_argument("--shots", type=int, default=0, metavar="K", help="few-shot examples (default 0)")
    eval_lm.add_argument(
        "--tasks",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="targets (xnli, 'sib*') or exported tasks ('xh_xnli_letters_*'); default: all",
    )
    eval_lm.add_argument(
        "--batch-size", type=_batch_size, default=1, help="a positive int or 'auto' (default 1)"
    )
    eval_lm.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    eval_lm.add_argument("--dtype", default="auto", help="e.g. bfloat16, float32 (default auto)")
    eval_lm.add_argument(
        "--limit", type=int, default=None, help="N documents per task (smoke runs; recorded)"
    )
    eval_lm.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    eval_lm.add_argument("--revision", default=None, help="the model's hub revision")
    eval_lm.add_argument("--trust-remote-code", action="store_true", help="run the model repo's own code")
    eval_lm.add_argument("--allow-pickle", action="store_true", help="load pickle (.bin) weights")
    eval_lm.add_argument("--results", type=Path, default=Path("results"))
    eval_lm.add_argument("--data-dir", type=Path, default=None, help="the exporter's data folder")
    eval_lm.add_argument(
        "--lm-tasks",
        type=Path,
        default=None,
        metavar="DIR",
        help="an already-exported lm-eval task folder (skips the export)",
    )
    _common(eval_lm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(name)s: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _quiet_libraries(args.debug)
    handler = _HANDLERS[(args.command, getattr(args, f"{args.command}_command", None))]
    try:
        return handler(args) or 0
    except ValidationErrors as exc:
        for error in exc.errors:
            _error_line(_one_line(error.render()))
        return exc.exit_code
    except KeyboardInterrupt:
        _error_line("interrupted; run the same command again to resume")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report_failure(exc)


def _report_failure(exc: Exception) -> int:
    """One line and the documented exit code for anything that escaped a command (see EXIT_CODES)."""
    known = exc if isinstance(exc, HarnessError) else None
    if known is None and isinstance(exc, OSError):
        known = from_os_error(exc)
    if known is None:
        known = from_wrapped_os_error(exc)
    if known is not None:
        _error_line(_one_line(known.render()))
        return known.exit_code
    _error_line(
        f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (a bug; run with --debug for the traceback)"
    )
    return INTERNAL_ERROR


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).strip() or "(no message)"


def _quiet_libraries(debug: bool) -> None:
    """transformers and datasets print load reports and warnings; ours say what matters."""
    if debug:
        return
    try:
        import datasets
        import transformers

        transformers.utils.logging.set_verbosity_error()
        datasets.utils.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass


def _catalogue(args: argparse.Namespace):
    from harness.catalogue.loader import Catalogue
    from harness.resources import task_folders

    return Catalogue.load(task_folders(args.tasks_dir))


def cmd_tasks_list(args: argparse.Namespace) -> int:
    from harness.catalogue.describe import describe_tasks

    described = describe_tasks(_catalogue(args))
    if args.json:
        print(json.dumps(described, indent=2, ensure_ascii=False))
        return 0
    from rich.table import Table

    table = Table(title="tasks")
    for column in ("name", "kind", "v", "role", "languages", "splits"):
        table.add_column(column)
    for task in described:
        splits = ", ".join(
            f"{s['name']}({s['domain']}{'' if s['in_domain'] else ', shifted'})" for s in task["splits"]
        )
        table.add_row(
            task["name"],
            task["kind"],
            str(task["version"]),
            task["role"],
            str(len(task["languages"])),
            splits,
        )
    console.print(table)
    return 0


def cmd_tasks_validate(args: argparse.Namespace) -> int:
    from harness.catalogue.validate import validate_paths
    from harness.resources import task_folders

    errors, checked = validate_paths(args.paths, task_folders(args.tasks_dir))
    for error in errors:
        _error_line(error.render())
    if errors:
        return 2
    console.print(f"{checked} files valid")
    return 0


def _executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor", default="local", choices=["local", "ray", "slurm"], help="where the jobs run"
    )
    parser.add_argument(
        "--profile", type=Path, help="executor profile YAML (tasks/profiles/): resources per job"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from harness import api
    from harness.runner.show import plan_json, print_plan

    api.check_executor(args.executor, profile=args.profile)
    plan = api.plan(args.grid, lock=args.lock, tasks_dirs=args.tasks_dir, profile=args.profile)
    driver = api.driver(plan, results=args.results)
    if args.json:
        print(json.dumps(plan_json(plan, driver), indent=2))
    else:
        print_plan(plan, driver, console)
    if args.executor == "slurm":
        print(api.slurm_submission(plan, driver, args.profile))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness import api
    from harness.results.store import ResultsStore
    from harness.runner.progress import JobProgress

    store = ResultsStore(args.results)
    with JobProgress(console) as progress:
        report = api.run(
            args.grid,
            results=store.root,
            lock=args.lock,
            tasks_dirs=args.tasks_dir,
            executor=args.executor,
            only=args.only,
            force=args.force,
            progress=progress,
            workers=args.workers,
            profile=args.profile,
            ray_address=args.ray_address,
        )
    console.print(
        f"grid {report.grid!r}: {len(report.ran)} jobs ran, {len(report.skipped)} already done, "
        f"{report.wall_time_s:.1f} s; results in {store.root}"
    )
    from harness.scoring.derived import write_derived

    write_derived(store)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from harness.report.summary import print_summary, render_summary, summary_items
    from harness.results.locate import require_store
    from harness.results.store import ResultsStore
    from harness.scoring.derived import write_derived

    store = ResultsStore(require_store(args.results))
    records = store.records()
    if args.format == "rich":
        print_summary(records, console, store)
    else:
        sys.stdout.write(render_summary(summary_items(records, store), args.format))
    if records and not write_derived(store):
        (console if args.format == "rich" else Console(stderr=True)).print(
            f"{store.root} is read-only: derived/ not updated", style="dim", markup=False, soft_wrap=True
        )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import checkpoint_label, compare_tables, protocol_line
    from harness.report.summary import print_compare
    from harness.results.locate import require_store
    from harness.results.store import ResultsStore
    from harness.scoring.bootstrap import DEFAULT_BOOT
    from harness.scoring.derived import frame_rows

    store = ResultsStore(require_store(args.results))
    records = store.records()
    rows, tasks = compare_tables(store, records, args.a, args.b)
    protocols = protocol_line(records, args.a, args.b)
    if args.json:
        payload = {
            "a": args.a,
            "b": args.b,
            "n_boot": DEFAULT_BOOT,
            "per_task": frame_rows(tasks),
            "per_language": frame_rows(rows),
        }
        if protocols:  # only then: the JSON of two fine-tuned checkpoints is unchanged
            payload["protocols_differ"] = protocols
        print(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True))
        return 0
    a, b = checkpoint_label(records, args.a), checkpoint_label(records, args.b)
    print_compare(rows, tasks, a, b, console, protocols)
    return 0


def cmd_verdict(args: argparse.Namespace) -> int:
    from harness.report.verdict import store_verdict, verdict_words
    from harness.results.locate import require_store
    from harness.results.store import ResultsStore

    store = ResultsStore(require_store(args.results))
    verdict = store_verdict(store, store.records())
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2, ensure_ascii=False))
    else:
        console.print(verdict_words(verdict), markup=False, soft_wrap=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.site import render_site
    from harness.report.site_safety import check_site_folder
    from harness.results.locate import require_store
    from harness.results.store import ResultsStore
    from harness.scoring.derived import write_derived

    store = ResultsStore(require_store(args.results))
    check_site_folder(args.out)  # before derived/ is written: a refused --out writes nothing at all
    records = store.records()
    if records and not write_derived(store):  # derived/ first: the site shows the same statistics
        console.print(
            f"{store.root} is read-only: derived/ not updated", style="dim", markup=False, soft_wrap=True
        )
    written = render_site(records, args.out, store.root)
    console.print(f"wrote {len(written)} files to {args.out} (open {args.out / 'index.html'})")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from harness.results.pack import pack_store

    packed = pack_store(args.results, args.out)
    console.print(
        f"packed {packed.records} records ({packed.with_stats} with per-example statistics, "
        f"{packed.stats_files} statistics files, {packed.training_files} training.json) "
        f"into {args.out}: {packed.bytes / 1e6:.1f} MB",
        markup=False,
        soft_wrap=True,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from harness.catalogue.names import checked_name
    from harness.runner.external import eval_checkpoint
    from harness.runner.progress import JobProgress

    checked_name(args.name, field="--name")

    with JobProgress(console) as progress:
        run = eval_checkpoint(
            args.checkpoint,
            args.name,
            grid=args.grid,
            results=args.results,
            lock_path=args.lock,
            out=args.out,
            catalogue=_catalogue(args),
            intermediate=args.intermediate,
            source_lang=args.source_lang,
            source_type=args.source_type,
            allow_pickle=args.allow_pickle,
            progress=progress,
        )
    pin = "pinned" if run.pinned_now else "matches its pin"
    console.print(
        f"{run.name} ({pin} in {args.lock}): {len(run.report.ran)} jobs ran, {len(run.report.skipped)} already "
        f"done, {run.report.wall_time_s:.1f} s; leaderboard: {run.site_files} files in {args.out}",
        markup=False,
    )
    return 0


def cmd_lock_verify(args: argparse.Namespace) -> int:
    from harness.models.verify import verify_locks

    problems, checked = verify_locks(args.lock, args.results)
    for line in problems:
        _error_line(line)
    if problems:
        return 1
    console.print(f"{checked} checkpoints match their pins")
    return 0


def cmd_lock_add(args: argparse.Namespace) -> int:
    from harness.catalogue.names import checked_name
    from harness.catalogue.schema import ModelSpec

    checked_name(args.name, field="NAME")
    from harness.models.lockfile import Lock
    from harness.models.sources import resolve_model

    resolved = resolve_model(ModelSpec(name=args.name, source=args.source, allow_pickle=args.allow_pickle))
    lock = Lock.load(args.lock)
    entry = lock.pin(
        args.name, resolved.folder, args.source, revision=resolved.revision, note="harness lock add"
    )
    console.print(f"pinned {args.name}: {len(entry.files)} files in {args.lock}")
    return 0


def _score_task_table(task: str, scores: dict) -> Table:
    metrics = [m for m, v in scores.items() if isinstance(v, dict)]
    table = Table(title=f"{task}: task score {scores['avg_metric']:.2f}")
    table.add_column("language")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for lang in scores[metrics[0]] if metrics else []:
        table.add_row(lang, *[f"{scores[m][lang]:.2f}" for m in metrics])
    table.add_row("average", *[f"{scores[f'avg_{m}']:.2f}" for m in metrics], style="bold")
    return table


def _score_overall_table(overall: dict) -> Table:
    table = Table(title="XTREME overall", caption="a group needs all its tasks; all_task all nine")
    table.add_column("score")
    table.add_column("value", justify="right")
    for name, value in overall.items():
        table.add_row(name, f"{value:.2f}")
    if not overall:
        table.add_row("(no complete group)", "—")
    return table


def cmd_score(args: argparse.Namespace) -> int:
    from harness.scoring.xtreme import score_submission

    overall, detailed = score_submission(args.pred_dir, args.label_dir)
    if args.json:
        print(json.dumps({"overall": overall, "detailed": detailed}, indent=2, ensure_ascii=False))
        return 0
    if not detailed:
        console.print("no XTREME task folder is in both the submission and the label folder", markup=False)
    for task, scores in detailed.items():
        console.print(_score_task_table(task, scores))
    console.print(_score_overall_table(overall))
    return 0


def cmd_export_xtreme(args: argparse.Namespace) -> int:
    from harness.results.store import ResultsStore
    from harness.scoring.export import export_xtreme, select_xtreme_records

    selected = select_xtreme_records(ResultsStore(args.results), args.checkpoint, args.seed)
    written = export_xtreme(selected, args.out_dir)
    record = selected[0][0]
    console.print(
        f"wrote {len(written)} files for {record.checkpoint.name} seed {record.seed} to {args.out_dir} "
        f"(score with: harness score {args.out_dir} LABEL_DIR)",
        markup=False,
    )
    from harness.scoring.export import PROTOCOL_NOTE, protocol_warnings

    for warning in protocol_warnings(r for r, _ in selected):
        console.print(f"warning: {warning} (see {PROTOCOL_NOTE})", markup=False)
    return 0


def cmd_export_lm_eval(args: argparse.Namespace) -> int:
    from collections import Counter

    from harness.bridges.lm_eval.export import export_lm_eval

    result = export_lm_eval(
        _catalogue(args), args.out_dir, patterns=args.tasks, shots=args.shots, data_dir=args.data_dir
    )
    kinds = Counter(t.meta.kind for t in result.tasks)
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    console.print(
        f"wrote {len(result.tasks)} lm-eval tasks ({shown}) and {len(result.groups)} groups to {args.out_dir}; "
        f"{len(result.unavailable)} split-languages without local data, "
        f"{len(result.not_applicable)} targets not applicable (see manifest.json)",
        markup=False,
    )
    console.print(
        f"run: lm_eval --include_path {args.out_dir} --tasks <task or group names> ...", markup=False
    )
    return 0


def cmd_import_lm_eval(args: argparse.Namespace) -> int:
    from harness.bridges.lm_eval.importer import import_lm_eval
    from harness.runner.environment import code_version

    report = import_lm_eval(args.results_dir, args.results, name=args.name, code_version=code_version())
    for note in report.skipped:
        console.print(f"skipped {note}", markup=False, soft_wrap=True)
    for record in report.records:
        console.print(
            f"{record.task.name} {record.split.name} {record.language}: {record.main_metric} "
            f"{record.main_score:.4f} (n={record.n_examples})",
            markup=False,
        )
    console.print(
        f"{args.name}: {len(report.written)} records written, {len(report.unchanged)} already stored, "
        f"in {args.results}",
        markup=False,
    )
    return 0


def _batch_size(text: str) -> int | str:
    if text == "auto" or text.startswith("auto:"):
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive int or 'auto'")
    return int(text)


def _eval_lm_name(model: str, shots: int) -> str:
    import re

    base = re.sub(r"[^A-Za-z0-9._+-]", "-", model.rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "model"
    return f"{base[:90]}-{shots}shot"


def cmd_eval_lm(args: argparse.Namespace) -> int:
    from harness.bridges.lm_eval.evaluate import TaskOutcome, eval_lm, exported_tasks, folder_tasks
    from harness.catalogue.names import checked_name
    from harness.runner.environment import code_version

    name = checked_name(args.name or _eval_lm_name(args.model, args.shots), field="--name")
    if args.lm_tasks is not None:
        folder = args.lm_tasks
        tasks = folder_tasks(folder, args.tasks)
    else:
        # one folder per run name: eval-lm jobs of several models on one store never swap each other's
        folder = args.results / "lm-eval" / "tasks" / name
        tasks = exported_tasks(
            _catalogue(args), folder, patterns=args.tasks, shots=args.shots, data_dir=args.data_dir
        )

    def show(outcome: TaskOutcome) -> None:
        if outcome.status == "done":
            console.print(f"{outcome.task}: already imported", markup=False)
        else:
            console.print(
                f"{outcome.task}: {outcome.main_metric} {outcome.main_score:.4f} "
                f"(n={outcome.n_examples}, {outcome.wall_s:.1f} s)",
                markup=False,
            )

    run = eval_lm(
        args.model,
        name=name,
        results=args.results,
        tasks=tasks,
        tasks_folder=folder,
        shots=args.shots,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        limit=args.limit,
        backend=args.backend,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle,
        code_version=code_version(),
        on_task=show,
        quiet=not args.debug,
    )
    console.print(
        f"{name}: {len(run.ran)} tasks ran, {len(run.done)} already imported, {run.wall_s:.1f} s; "
        f"records in {args.results}",
        markup=False,
    )
    return 0


_HANDLERS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {
    ("run", None): cmd_run,
    ("plan", None): cmd_plan,
    ("eval", None): cmd_eval,
    ("tasks", "list"): cmd_tasks_list,
    ("tasks", "validate"): cmd_tasks_validate,
    ("summary", None): cmd_summary,
    ("compare", None): cmd_compare,
    ("report", None): cmd_report,
    ("verdict", None): cmd_verdict,
    ("pack", None): cmd_pack,
    ("lock", "verify"): cmd_lock_verify,
    ("lock", "add"): cmd_lock_add,
    ("score", None): cmd_score,
    ("export", "xtreme"): cmd_export_xtreme,
    ("export", "lm-eval"): cmd_export_lm_eval,
    ("import", "lm-eval"): cmd_import_lm_eval,
    ("eval-lm", None): cmd_eval_lm,
}


if __name__ == "__main__":
    sys.exit(main())
