"""The ServerApp: drives the rounds with a Flower strategy, evaluates the global adapter on valid.json
after each aggregation, checkpoints every round, resumes, and saves ``final_model`` as ``fedjava train``.

``app`` (declared in pyproject.toml for ``flwr run .``) reads its settings from the Flower run config;
``fedjava federate`` builds its own with :func:`make_server_app` and a resolved Config.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from fedjava.aggregation import describe_method
from fedjava.config import Config
from fedjava.evaluation.metrics import DECISION_KEYS, format_decisions
from fedjava.federated.adapter_io import adapter_to_arrays, arrays_nbytes, arrays_to_numpy, load_arrays_into
from fedjava.federated.checkpoints import resume_checkpoint, run_identity, save_checkpoint
from fedjava.federated.common import (
    FederatedSetupError,
    cached_model,
    check_federated_data,
    config_from_run_config,
    method_name,
    round_learning_rate,
    round_seed,
    shard_path,
    valid_path,
)
from fedjava.federated.strategies import RoundReport, build_strategy, restore_server_state, server_state
from fedjava.prompts import AnswerOnlyCollator, tokenize_samples
from fedjava.runs import TrainingRun, configuration_block, count_parameters, training_run

log = logging.getLogger("fedjava")
_CLIENT_IN_REASON = re.compile(r"client (\d+): ")


def format_seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{seconds / 60:.1f}min"


def format_bytes(n: float) -> str:
    """Decimal units: 1 MB = 10**6 bytes."""
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


class FederatedServer:
    """One federated run on the server side; also the strategy's round listener (console + history)."""

    def __init__(self, cfg: Config, resume: bool = False, printer: Callable[[str], None] = print):
        self.cfg = cfg
        self.resume = resume
        self.printer = printer
        self.method = method_name(cfg)
        self.out = cfg.resolved_output_dir(self.method)
        self.strategy: Any = None
        self.tracker: Any = None
        self.offset = 0
        self.rounds: list[dict[str, Any]] = []
        self.latest: ArrayRecord | None = None
        self.eval_losses: dict[int, float] = {}

    def say(self, text: str) -> None:
        self.printer(text)
        log.debug(text.lstrip("\n"))

    # ------------------------------------------------------------------ setup

    def run(self, grid: Grid) -> dict[str, Any]:
        cfg = self.cfg
        self._check_data()
        # The command (fedjava federate / server) removed an old run when asked (--overwrite); `flwr run .` cannot.
        with training_run(cfg, self.out, self.resume, False, lambda: resume_checkpoint(cfg), self.printer) as run:
            arrays = self._load(run)
            self._start_tracking(run)
            self._play_rounds(grid, arrays)
            load_arrays_into(self.model, self.latest)
            summary = run.finish(
                self.model,
                self.tokenizer,
                {
                    "method": f"federated_{self.method}",
                    "algorithm": cfg.algorithm,
                    "num_clients": cfg.num_clients,
                    "num_rounds": cfg.num_rounds,
                },
                lambda final: self._summary(final, arrays),
            )
            self.say(f"\nModel saved: {summary['final_model']}")
        return summary

    def _load(self, run: TrainingRun) -> Any:
        """The validation samples (read before the model loads), the model, the strategy; prints the configuration.
        Returns the adapter the first round sends."""
        from fedjava.training import load_prompted

        cfg = self.cfg
        valid_samples = load_prompted(cfg, valid_path(cfg), cfg.max_eval_samples, "valid")
        (self.model, self.tokenizer, initial, _), load_seconds = run.load_model(lambda: cached_model(cfg))
        load_arrays_into(self.model, {n: t.numpy() for n, t in initial.items()})
        self.order = list(initial)
        self.valid = tokenize_samples(self.tokenizer, valid_samples, cfg.max_seq_length, cfg.truncation, "valid")[0]
        self.collator = AnswerOnlyCollator(self.tokenizer.pad_token_id)
        arrays = self._start_from(run.checkpoint)
        self.say(
            configuration_block("Federated Learning Configuration", self._configuration_rows(load_seconds, arrays))
        )
        if run.checkpoint is not None:
            self.say(f"\nResuming after round {run.checkpoint.round} ({run.checkpoint.path}).")
        return arrays

    def _start_tracking(self, run: TrainingRun) -> None:
        """The run's RunTracker, holding the rounds done before a resume (and their time)."""
        self.tracker = run.track(f"federated_{self.method}", self.method)
        self.tracker.history["rounds"] = list(self.rounds)
        if run.checkpoint is not None:
            self.tracker.continue_from(_elapsed_at(run.checkpoint.state), run.checkpoint.round)

    def _play_rounds(self, grid: Grid, arrays) -> None:
        """The rounds still to do (all but those a resumed run did before), by the strategy."""
        remaining = self.cfg.num_rounds - self.offset
        if remaining > 0:
            self.strategy.start(
                grid=grid,
                initial_arrays=arrays,
                num_rounds=remaining,
                timeout=self.cfg.round_timeout,
                train_config=ConfigRecord({"local-epochs": float(self.cfg.local_epochs)}),
                evaluate_fn=self.evaluate,
            )
        else:
            self.say(f"\nAll {self.cfg.num_rounds} rounds were already done; saving the final model again.")

    def _check_data(self) -> None:
        """The server's validation file must be here; the clients' shards may live on other machines."""
        cfg = self.cfg
        try:
            check_federated_data(cfg)
        except FederatedSetupError as exc:
            if not valid_path(cfg).is_file():
                raise  # the server evaluates on valid.json: it must be here
            # The shards are the clients' business: they may live on other machines.
            self.printer(f"note: {str(exc).splitlines()[0]} (fine if the clients run on other machines)")

    def _start_from(self, checkpoint) -> Any:
        """The adapter the first round sends (the checkpoint's on a resume, with its rounds, the strategy's state and
        the privacy spent so far); builds the strategy."""
        cfg = self.cfg
        arrays = adapter_to_arrays(self.model)
        if checkpoint is not None:
            self.offset = checkpoint.round
            load_arrays_into(self.model, checkpoint.adapter)
            arrays = adapter_to_arrays(self.model)  # the model's names and order, whatever the file's order
            self.rounds = list(checkpoint.state.get("rounds", []))
            self.eval_losses = {int(r["round"]): r["eval_loss"] for r in self.rounds if "eval_loss" in r}
        self.latest = arrays
        self.strategy = build_strategy(cfg, round_offset=self.offset, listener=self)
        if checkpoint is not None and checkpoint.server_state:
            restore_server_state(self.strategy, checkpoint.server_state, self.order)
        if self.strategy.privacy is not None:  # the rounds released before a resume count too, each with its count
            for r in self.rounds:
                if r.get("round", 0) > 0 and r.get("aggregated") and not r.get("kept_global"):
                    self.strategy.privacy.compose(aggregated=int(r["aggregated"]))
        return arrays

    def _configuration_rows(self, load_seconds: float, arrays) -> list[tuple[str, Any]]:
        """The rows of the "Federated Learning Configuration" block printed before the first round."""
        cfg = self.cfg
        trainable, total = count_parameters(self.model)
        adapter_bytes = arrays_nbytes(arrays)
        model_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        shards = [shard_path(cfg, i) for i in range(cfg.num_clients)]
        return [
            ("Algorithm", describe_method(cfg)),
            ("Clients", f"{cfg.num_clients} ({shards[0]}" + (f" ... {shards[-1]})" if len(shards) > 1 else ")")),
            ("Rounds", cfg.num_rounds),
            ("Local epochs", cfg.local_epochs if cfg.max_steps < 0 else f"{cfg.max_steps} steps"),
            ("Model", f"{cfg.model_name} (loaded in {load_seconds:.1f}s)"),
            ("LoRA", f"r={cfg.lora_r}, alpha={cfg.lora_alpha}, targets={','.join(cfg.lora_target_modules)}"),
            ("Trainable parameters", f"{trainable:,} of {total:,} ({100 * trainable / total:.2f}%)"),
            (
                "Sent per client per round",
                f"{format_bytes(adapter_bytes)} each way "
                f"({100 * adapter_bytes / model_bytes:.2f}% of the model's "
                f"{format_bytes(model_bytes)})",
            ),
            (
                "Updates on the wire",
                cfg.update_compression
                if cfg.update_compression != "topk"
                else f"topk (fraction {cfg.topk_fraction:g}, error feedback)",
            ),
            (
                "Differential privacy",
                "off"
                if cfg.dp_mode == "off"
                else f"{cfg.dp_mode} (noise multiplier {cfg.dp_noise_multiplier:g}, clipping norm {cfg.dp_clipping_norm:g}, "
                f"delta {cfg.dp_delta:g}; Flower's wrappers, epsilon from dp-accounting)",
            ),
            ("Batch size", f"{cfg.batch_size} x {cfg.gradient_accumulation_steps} accumulation"),
            ("Learning rate", learning_rate_line(cfg)),
            ("Validation samples", f"{len(self.valid)} ({valid_path(cfg)})"),
            ("Min good updates per round", cfg.min_fit_clients),
            ("Output", self.out),
        ]

    def _summary(self, final: Path, arrays) -> dict[str, Any]:
        """The run's summary: what was aggregated, the losses, the bytes on the wire, DP's epsilon, the time."""
        cfg = self.cfg
        done = [r for r in self.tracker.history["rounds"] if r.get("round", 0) > 0]
        return {
            "method": f"federated_{self.method}",
            "algorithm": cfg.algorithm,
            "num_clients": cfg.num_clients,
            "num_rounds": cfg.num_rounds,
            "rounds_aggregated": sum(1 for r in done if not r.get("kept_global")),
            "initial_eval_loss": self.eval_losses.get(0),
            "eval_loss": self.eval_losses.get(max(self.eval_losses)) if self.eval_losses else None,
            "bytes_sent": sum(r.get("bytes_sent", 0) for r in done),
            "bytes_received": sum(r.get("bytes_received", 0) for r in done),
            "update_compression": cfg.update_compression,
            "dp_mode": cfg.dp_mode,
            **(
                {"dp_epsilon": self.strategy.privacy.epsilon(), "dp_delta": cfg.dp_delta}
                if self.strategy.privacy is not None
                else {}
            ),
            "seconds": self.tracker.elapsed(),  # a resumed run's included
            "trainable_parameters": count_parameters(self.model)[0],
            "adapter_bytes": arrays_nbytes(arrays),
            "model_bytes": sum(p.numel() * p.element_size() for p in self.model.parameters()),
            "final_model": str(final),
        }

    # ------------------------------------------------------------------ the strategy's listener

    def round_started(self, server_round: int, sampled: int) -> None:
        self.say(f"\nRound {server_round}/{self.cfg.num_rounds}:")
        log.debug("round %d: %d client(s) asked to train", server_round, sampled)

    def round_aggregated(self, report: RoundReport) -> None:
        for entry in report.clients:
            who = f"Client {entry['client']}" if entry.get("client") is not None else f"Node {entry['node']}"
            drift = entry.get("update_cosine")
            self.say(
                f"  {who}: train_loss={entry.get('train_loss', float('nan')):.4f}, "
                f"samples={entry.get('num_examples')}, time={format_seconds(entry.get('train_seconds', 0.0))}"
                + (f", update cosine to the mean {drift:.3f}" if drift is not None else "")
            )
        for entry in report.failed:
            match = _CLIENT_IN_REASON.search(entry["reason"])
            if match:
                entry["client"] = int(match.group(1))
            who = f"Client {entry['client']}" if "client" in entry else f"Node {entry['node']}"
            self.say(f"  {who}: FAILED, left out of this round: {entry['reason']}")
        for entry in report.rejected:
            who = f"Client {entry['client']}" if entry.get("client") is not None else f"Node {entry['node']}"
            self.say(f"  {who}: update REJECTED, left out of this round: {entry['reason']}")
        for entry in report.missing:
            who = f"Client {entry['client']}" if "client" in entry else f"Node {entry['node']}"
            self.say(f"  {who}: NO REPLY, left out of this round: {entry['reason']}")
        if report.kept_global:
            self.say(
                f"  Only {len(report.clients)} good update(s), fewer than min_fit_clients="
                f"{self.cfg.min_fit_clients}: the global model is kept unchanged this round."
            )

    # ------------------------------------------------------------------ evaluation and checkpoints

    def _evaluate_arrays(self, arrays: ArrayRecord) -> dict[str, float]:
        from fedjava.training import evaluate_loss

        load_arrays_into(self.model, arrays)
        return evaluate_loss(self.model, self.valid, self.collator, max(self.cfg.batch_size, 4))

    def evaluate(self, flower_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """Flower's evaluate_fn: after aggregation, evaluate, record, checkpoint (round 0: initial model)."""
        if flower_round == 0:
            return None if self.offset else self._evaluate_initial(arrays)  # resumed: round 0 is in the history
        server_round = flower_round + self.offset
        report = self.strategy.reports.get(server_round, RoundReport(round=server_round))
        self.latest = arrays
        start = time.time()
        metrics = self._round_metrics(report, arrays)
        self.eval_losses[server_round] = metrics["eval_loss"]
        note = " (global model unchanged)" if report.kept_global else ""
        self.say(f"  Global eval_loss={metrics['eval_loss']:.4f}{_decisions(metrics)}{note}")
        privacy = self.strategy.privacy
        if privacy is not None:
            self.say(
                f"  Privacy spent so far: epsilon={privacy.epsilon():.3f} at delta={self.cfg.dp_delta:g} "
                f"({privacy.releases} noised round(s))"
            )
        entry = self._round_entry(server_round, report, metrics, start)
        self.rounds.append({k: v for k, v in entry.items() if v is not None})
        # The checkpoint first: the history and TensorBoard never hold a round the checkpoints lack.
        self._save_round(server_round, arrays, metrics["eval_loss"])
        self.tracker.record("rounds", entry, server_round)
        return MetricRecord({"eval_loss": metrics["eval_loss"]})

    def _evaluate_initial(self, arrays: ArrayRecord) -> MetricRecord:
        """Round 0: the model every school starts from, measured once and recorded."""
        start = time.time()
        metrics = self._evaluate_arrays(arrays)
        self.eval_losses[0] = metrics["eval_loss"]
        self.say(f"\nInitial global eval_loss={metrics['eval_loss']:.4f}{_decisions(metrics)}")
        entry = {
            "round": 0,
            "eval_loss": metrics["eval_loss"],
            "eval_perplexity": metrics["eval_perplexity"],
            **_decision_values(metrics),
            "eval_seconds": time.time() - start,
            "elapsed_seconds": self.tracker.elapsed(),
        }
        self.rounds.append(entry)
        self.tracker.record("rounds", entry, 0)
        return MetricRecord({"eval_loss": metrics["eval_loss"]})

    def _round_metrics(self, report: RoundReport, arrays: ArrayRecord) -> dict[str, Any]:
        """The global model's validation metrics; a round that kept the global model reuses the previous ones."""
        previous = self.rounds[-1] if self.rounds else None
        if report.kept_global and previous is not None and "eval_loss" in previous:
            return {k: v for k, v in previous.items() if k in ("eval_loss", "eval_perplexity", *DECISION_KEYS)}
        return self._evaluate_arrays(arrays)

    def _round_entry(
        self, server_round: int, report: RoundReport, metrics: dict[str, Any], start: float
    ) -> dict[str, Any]:
        """The round's line of the history: losses, who took part, bytes, privacy, time."""
        privacy = self.strategy.privacy
        weights = sum(e.get("num_examples", 0) for e in report.clients)
        train_loss = (
            sum(e.get("train_loss", 0.0) * e.get("num_examples", 0) for e in report.clients) / weights
            if weights
            else None
        )
        return {
            "round": server_round,
            "eval_loss": metrics["eval_loss"],
            "eval_perplexity": metrics["eval_perplexity"],
            **_decision_values(metrics),
            "train_loss": train_loss,
            "clients": report.clients,
            "failed": report.failed,
            "rejected": report.rejected,
            "missing": report.missing,
            "sampled": report.sampled,
            "aggregated": report.aggregated,
            "kept_global": report.kept_global,
            "bytes_sent": sum(e.get("bytes_sent", 0) for e in report.clients + report.rejected),
            "bytes_received": sum(e.get("bytes_received", 0) for e in report.clients + report.rejected),
            "train_phase_seconds": report.train_phase_seconds,
            "dp_epsilon": privacy.epsilon() if privacy is not None else None,
            "dp_noise_multiplier": report.dp_noise_multiplier,
            "dp_delta": self.cfg.dp_delta if privacy is not None else None,
            "eval_seconds": time.time() - start,
            "seconds": time.time() - report.started,
            "client_seeds": {
                str(e["client"]): round_seed(self.cfg.seed, server_round, e["client"])
                for e in report.clients
                if e.get("client") is not None
            },
            "elapsed_seconds": self.tracker.elapsed(),
        }

    def _save_round(self, server_round: int, arrays: ArrayRecord, eval_loss: float) -> None:
        """The round's checkpoint: the global adapter, the strategy's state and the history so far."""
        save_checkpoint(
            self.out,
            server_round,
            arrays_to_numpy(arrays),
            server_state(self.strategy),
            {
                "round": server_round,
                "num_rounds": self.cfg.num_rounds,
                "identity": run_identity(self.cfg),
                "client_seed_rule": "sha256('fedjava:{seed}:{round}:{client}')[:4] little-endian mod 2**31-1",
                "eval_loss": eval_loss,
                "rounds": self.rounds,
                "elapsed_seconds": self.tracker.elapsed(),
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            keep=self.cfg.save_total_limit,
        )


def _elapsed_at(state: dict[str, Any]) -> float | None:
    """The run's elapsed seconds when a round checkpoint was saved (older checkpoints: its last round's)."""
    rounds = state.get("rounds") or [{}]
    return state.get("elapsed_seconds", rounds[-1].get("elapsed_seconds"))


def _decision_values(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in DECISION_KEYS if k in metrics}


def _decisions(metrics: dict[str, Any]) -> str:
    text = format_decisions(metrics)
    return f"; {text}" if text else ""


def make_server_app(
    cfg: Config | None = None,
    resume: bool | None = None,
    printer: Callable[[str], None] = print,
    result: dict[str, Any] | None = None,
) -> ServerApp:
    """A ServerApp for ``cfg`` (None: read it from the Flower run config); the summary goes to ``result``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_cfg, run_resume = (cfg, bool(resume)) if cfg is not None else config_from_run_config(context.run_config)
        summary = FederatedServer(run_cfg, resume=run_resume, printer=printer).run(grid)
        if result is not None:
            result["summary"] = summary

    return app


app = make_server_app()


def learning_rate_line(cfg: Config) -> str:
    """How the clients' learning rate goes over the run, for the configuration block."""
    if cfg.client_lr_schedule == "restart":
        return f"{cfg.learning_rate:g}, {cfg.lr_scheduler} (warmup {cfg.warmup_ratio:g}) again in every round"
    rates = [round_learning_rate(cfg, r) for r in range(1, cfg.num_rounds + 1)]
    shown = ", ".join(f"{rate:.3g}" for rate in rates[:6]) + (", ..." if len(rates) > 6 else "")
    return (
        f"{cfg.learning_rate:g}, {cfg.lr_scheduler} (warmup {cfg.warmup_ratio:g}) over the rounds, constant within "
        f"a round: {shown}"
    )
