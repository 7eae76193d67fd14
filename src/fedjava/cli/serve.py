"""``fedjava serve``: the local web page (:mod:`fedjava.serve`) started after every check that can fail."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedjava.cli.common import add_adapter_option, add_unsafe_run_option, port
from fedjava.review_inputs import ReviewError
from fedjava.serve import (
    DEFAULT_CLASS_MB,
    DEFAULT_PORT,
    DEFAULT_UPLOAD_KB,
    LOOPBACK_NAMES,
    _is_loopback,
    check_results_folder,
    create_app,
    results_rubric,
)
from fedjava.serve_guard import check_listen, check_packages, check_unsafe_run

SERVE_EPILOG = """examples:
  fedjava serve                                        # http://127.0.0.1:8765 with the shipped grader
  fedjava serve --adapter results/fedavg/final_model --results hw3 --port 9000
  fedjava serve --results hw4            # a new folder: upload the class zip on the page, then check and release
"""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = sub.add_parser(
        "serve",
        help="a local web page: review a pasted or uploaded Java file, browse a grade folder",
        description="Serve a web page on this machine where a Java file and its task can be pasted or uploaded "
        "and reviewed (the feedback page with the error lines marked), and where the output folder "
        "of fedjava grade can be browsed. Binds to 127.0.0.1 unless --host says otherwise.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"port, 1 to 65535 (default {DEFAULT_PORT})")
    serve.add_argument(
        "--results",
        metavar="DIR",
        help="a fedjava grade output folder to browse, edit and release at /results, and where a class "
        "zip uploaded on the page is graded (a new or empty folder is fine)",
    )
    add_adapter_option(serve)
    serve.add_argument(
        "--rubric",
        metavar="R",
        help="rubric YAML for the scores (default: the one saved in --results DIR, else the default)",
    )
    serve.add_argument("--no-run", action="store_true", help="grounded adapters: compile only, never run tests")
    add_unsafe_run_option(serve, "javac and the task's tests on the uploaded code (grounded adapters)")
    serve.add_argument(
        "--max-upload-kb",
        type=int,
        default=DEFAULT_UPLOAD_KB,
        metavar="KB",
        help=f"largest request accepted (default {DEFAULT_UPLOAD_KB} KB)",
    )
    serve.add_argument(
        "--max-class-mb",
        type=int,
        default=DEFAULT_CLASS_MB,
        metavar="MB",
        help=f"largest class zip accepted (default {DEFAULT_CLASS_MB} MB)",
    )
    serve.set_defaults(func=cmd_serve)
    return serve


def cmd_serve(args: argparse.Namespace) -> int:
    from fedjava.grading.rubric import load_rubric
    from fedjava.reviewer import Reviewer, open_adapter

    check_packages()  # before anything else: without them every upload would end in a 500
    if args.max_upload_kb < 1 or args.max_class_mb < 1:
        raise ReviewError("--max-upload-kb and --max-class-mb must be at least 1")
    loopback = _is_loopback(args.host)
    check_unsafe_run(args.host, loopback, args.unsafe_run)
    results = Path(args.results) if args.results else None
    if results is not None:
        check_results_folder(results)
    check_listen(args.host, args.port)
    rubric = load_rubric(args.rubric) if args.rubric or results is None else results_rubric(results)
    adapter, cfg = open_adapter(args.adapter)
    reviewer = Reviewer.load(adapter, cfg, args.max_new_tokens, unsafe=args.unsafe_run)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
    app = create_app(
        reviewer,
        rubric,
        results,
        args.max_upload_kb * 1000,
        not args.no_run,
        allowed_hosts=LOOPBACK_NAMES if loopback else None,
        max_class_bytes=args.max_class_mb * 10**6,
        rubric_given=bool(args.rubric),
    )
    if not loopback:
        print(
            f"warning: listening on {args.host}: anyone who can reach this port can use the page (there is no "
            "login); use the default 127.0.0.1 unless you mean it",
            file=sys.stderr,
        )
    import uvicorn

    print(f"Serving on http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
