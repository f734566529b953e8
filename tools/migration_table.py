"""Regenerate the qiskit-ibm-runtime → qiskit-rest-provider table of ``docs/migration.md``.

    python tools/migration_table.py           # rewrite the table between its markers
    python tools/migration_table.py --check   # exit 1 if the committed table is stale

Every public name of the official classes (``QiskitRuntimeService``, ``IBMBackend``,
``SamplerV2``, ``EstimatorV2``, ``RuntimeJobV2``, ``Session``, ``Batch``), as the *installed*
qiskit-ibm-runtime defines them, gets a row with ours beside it:

* **same**: ours has the name, of a compatible kind (a method for a method, a value for a
  value), and accepts every parameter of theirs by the same name, positional ones at the same
  position, and needs no parameter theirs does not have;
* **different**: ours has the name, but not so; the row says what differs (computed) and why
  (from :data:`REASONS`);
* **absent**: ours lacks it; the row says why (from :data:`REASONS`).

The status is always computed. :data:`REASONS` is the only hand-kept part: a reason per
(class, name) that is different or absent, and optional notes on names that are the same. A
reason whose status no longer matches what is computed, a reason for a name the official class
does not have, and a different or absent name without a reason are all errors: the script
then writes nothing and exits 2, so the table cannot silently drift from either package.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "migration.md"
START = "<!-- migration-table:start -->"
END = "<!-- migration-table:end -->"

Status = Literal["same", "different", "absent"]
STATUSES: tuple[Status, ...] = ("same", "different", "absent")


@dataclass(frozen=True)
class Pair:
    """An official class and ours: ``module:ClassName`` each."""

    theirs: str
    ours: str

    @property
    def their_name(self) -> str:
        """The official class's name (the first key of :data:`REASONS`)."""
        return self.theirs.rpartition(":")[2]

    @property
    def our_name(self) -> str:
        """Our class's name."""
        return self.ours.rpartition(":")[2]


PAIRS: tuple[Pair, ...] = (
    Pair("qiskit_ibm_runtime:QiskitRuntimeService", "qiskit_rest_provider:QiskitRestProvider"),
    Pair("qiskit_ibm_runtime:IBMBackend", "qiskit_rest_provider:RestBackend"),
    Pair("qiskit_ibm_runtime:SamplerV2", "qiskit_rest_provider:SamplerV2"),
    Pair("qiskit_ibm_runtime:EstimatorV2", "qiskit_rest_provider:EstimatorV2"),
    Pair("qiskit_ibm_runtime:RuntimeJobV2", "qiskit_rest_provider:RuntimeJob"),
    Pair("qiskit_ibm_runtime:Session", "qiskit_rest_provider:Session"),
    Pair("qiskit_ibm_runtime:Batch", "qiskit_rest_provider:Batch"),
)


@dataclass(frozen=True)
class Reason:
    """Why a name is as it is: ``status`` must equal the computed status."""

    status: Status
    text: str


def same(text: str) -> Reason:
    """A note on a name that is the same."""
    return Reason("same", text)


def different(text: str) -> Reason:
    """Why a name differs."""
    return Reason("different", text)


def absent(text: str) -> Reason:
    """Why a name is absent."""
    return Reason("absent", text)


_ONE_INSTANCE = (
    "one provider serves one instance (given, or discovered through IBM Cloud's Global Search "
    "when none is given); an `instance=` naming another one is refused: make a provider for it"
)

#: The hand-kept part: why a name differs or is absent, and notes on some that are the same.
REASONS: dict[tuple[str, str], Reason] = {
    # QiskitRuntimeService → QiskitRestProvider -------------------------------------------
    ("QiskitRuntimeService", "active_account"): same(
        "secrets are hidden (the official client returns the API key in clear); adds `name` "
        "and the `api_url` requests go to"
    ),
    ("QiskitRuntimeService", "backend"): same(
        "makes no request: an unknown name or `calibration_id` fails on first use "
        "(`get_backend()` checks at once); " + _ONE_INSTANCE
    ),
    ("QiskitRuntimeService", "backends"): same(
        "`simulator=` and `operational=` are answered from the listing without further "
        "requests; `use_fractional_gates=None` is `True` (control flow stays either way); "
        + _ONE_INSTANCE
    ),
    ("QiskitRuntimeService", "delete_account"): same(
        "without a name it deletes the account named `default` (the official client: "
        "`default-<channel>`)"
    ),
    ("QiskitRuntimeService", "instances"): same(
        "the API key's instances, found as the official client finds them (IBM Cloud's Global "
        "Search and Global Catalog, once), in its shape"
    ),
    ("QiskitRuntimeService", "jobs"): same(
        "a list, as there; `iter_jobs()` yields the same jobs lazily; " + _ONE_INSTANCE
    ),
    ("QiskitRuntimeService", "least_busy"): same(
        "leaves simulators out unless `simulator=None`; " + _ONE_INSTANCE
    ),
    ("QiskitRuntimeService", "save_account"): same(
        "without `instance=` the instance is discovered when the account is used, choosing by "
        "the stored `region`/`plans_preference`/`tags`; refuses `private_endpoint=True` and "
        "NTLM proxies; `set_as_default=True` moves the default without "
        "`overwrite=True`; the file is `~/.qiskit/qiskit-rest-provider.json`, mode 0600"
    ),
    ("QiskitRuntimeService", "saved_accounts"): same(
        "secrets hidden; `default=True` means the account marked default"
    ),
    ("QiskitRuntimeService", "usage"): same(
        "`usage_remaining_seconds` is computed as there when the service states a limit or "
        "an allocation"
    ),
    # IBMBackend → RestBackend ----------------------------------------------------------------
    ("IBMBackend", "id_warning_issued"): absent(
        "an internal flag of the official client (whether it warned about `id` gates)"
    ),
    ("IBMBackend", "run"): different(
        "`IBMBackend.run(*args, **kwargs)` only raises (removed in favour of the "
        "primitives); ours runs the circuits as a sampler job and returns a "
        "`qiskit.result.Result`"
    ),
    # SamplerV2, EstimatorV2 ------------------------------------------------------------------
    ("SamplerV2", "backend"): different(
        "as on Qiskit's `BackendSamplerV2`; `mode` holds the backend, session or batch given"
    ),
    ("SamplerV2", "run"): different("there is no dry-run mode (mock backends) yet"),
    ("EstimatorV2", "backend"): different(
        "as on Qiskit's `BackendEstimatorV2`; `mode` holds the backend, session or batch given"
    ),
    ("EstimatorV2", "run"): different("there is no dry-run mode (mock backends) yet"),
    # RuntimeJobV2 → RuntimeJob ---------------------------------------------------------------
    ("RuntimeJobV2", "ERROR"): absent(
        "`status()` returns Qiskit's `JobStatus` (compare with `JobStatus.ERROR`), not the "
        "official job's status strings"
    ),
    ("RuntimeJobV2", "JOB_FINAL_STATES"): absent(
        "`status()` returns Qiskit's `JobStatus`: use `in_final_state()` or "
        "`qiskit.providers.JobStatus`'s final states"
    ),
    ("RuntimeJobV2", "backend"): different(
        "the job knows its backend without waiting for the service"
    ),
    ("RuntimeJobV2", "errored"): absent("`job.status() is JobStatus.ERROR`"),
    ("RuntimeJobV2", "image"): absent(
        "custom runtime images are not offered; jobs run the service's own"
    ),
    ("RuntimeJobV2", "instance"): absent(
        "a provider serves one instance: `provider.instance` (the job's backend's provider)"
    ),
    ("RuntimeJobV2", "private"): absent("private jobs are not offered by this client yet"),
    ("RuntimeJobV2", "properties"): absent(
        "`job.backend().properties(datetime=job.creation_date)` gives the calibration of the "
        "job's time"
    ),
    ("RuntimeJobV2", "result"): different(
        "results always decode to Qiskit's types, and the primitive's `poll=PollPolicy(...)` "
        "paces the polling"
    ),
    ("RuntimeJobV2", "status"): same(
        "returns Qiskit's `JobStatus` enum (the official job returns its strings)"
    ),
    ("RuntimeJobV2", "usage"): different(
        "the usage is the service's settled figure (0 while pending)"
    ),
    ("RuntimeJobV2", "usage_estimation"): absent(
        "not exposed: IBM's job document may carry `estimated_running_time_seconds` "
        "(`job.document`); the local service makes no estimate"
    ),
    ("RuntimeJobV2", "wait_for_final_state"): different(
        "pass `poll=PollPolicy(...)`; returns the final `JobStatus`"
    ),
    # Session, Batch --------------------------------------------------------------------------
}


# Introspection --------------------------------------------------------------------------------


def load(spec: str) -> type:
    """The class named by ``module:ClassName``."""
    module_name, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), name)
    if not isinstance(cls, type):
        raise TypeError(f"{spec} is not a class")
    return cls


def public_names(cls: type) -> list[str]:
    """The class's public names (inherited ones included), sorted."""
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def kind_of(cls: type, name: str) -> str | None:
    """``method``, ``static method``, ``class method``, ``property`` or ``attribute``; None
    when the class has no such name."""
    for klass in cls.__mro__:
        if name in vars(klass):
            member = vars(klass)[name]
            break
    else:
        return None
    if isinstance(member, staticmethod):
        return "static method"
    if isinstance(member, classmethod):
        return "class method"
    if inspect.isfunction(member) or inspect.ismethoddescriptor(member):
        return "method"
    if inspect.isdatadescriptor(member):
        return "property"
    return "attribute"


CALLABLE_KINDS = frozenset({"method", "static method", "class method"})
CLASS_CALLABLE_KINDS = frozenset({"static method", "class method"})


def signature_of(cls: type, name: str, kind: str) -> inspect.Signature | None:
    """The parameters a caller passes (``self`` dropped); None if not introspectable."""
    try:
        signature = inspect.signature(getattr(cls, name))
    except (TypeError, ValueError):
        return None
    if kind == "method":
        parameters = list(signature.parameters.values())[1:]
        signature = signature.replace(parameters=parameters)
    return signature


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def signature_problems(theirs: inspect.Signature, ours: inspect.Signature) -> list[str]:
    """What a call written for ``theirs`` may do that ``ours`` does not accept."""
    problems: list[str] = []
    their_params = list(theirs.parameters.values())
    our_params = ours.parameters
    our_positional = [p.name for p in our_params.values() if p.kind in _POSITIONAL]
    their_positional = [p for p in their_params if p.kind in _POSITIONAL]
    for index, param in enumerate(their_positional):
        if param.name not in our_params:
            continue  # reported below, once
        if index >= len(our_positional) or our_positional[index] != param.name:
            problems.append(f"`{param.name}` is not positional argument {index + 1}")
    for param in their_params:
        if param.kind in _VARIADIC:
            continue
        mine = our_params.get(param.name)
        if mine is None:
            problems.append(f"no `{param.name}` parameter")
        elif param.kind in _BY_KEYWORD and mine.kind not in _BY_KEYWORD:
            problems.append(f"`{param.name}` cannot be passed by keyword")
        elif param.default is not inspect.Parameter.empty and mine.default is mine.empty:
            problems.append(f"`{param.name}` is required")
    for variadic, shown in ((inspect.Parameter.VAR_POSITIONAL, "*args"),):
        if any(p.kind == variadic for p in their_params) and not any(
            p.kind == variadic for p in our_params.values()
        ):
            problems.append(f"no `{shown}`")
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in their_params) and not any(
        p.kind == inspect.Parameter.VAR_KEYWORD for p in our_params.values()
    ):
        problems.append("no `**kwargs`")
    their_names = {p.name for p in their_params}
    for param in our_params.values():
        if (
            param.name not in their_names
            and param.kind not in _VARIADIC
            and param.default is inspect.Parameter.empty
        ):
            problems.append(f"requires `{param.name}`")
    return problems


@dataclass(frozen=True)
class Row:
    """One official name and how ours compares."""

    cls: str
    name: str
    their_kind: str
    our_kind: str | None
    status: Status
    details: tuple[str, ...]
    reason: Reason | None


def compare(their_cls: type, our_cls: type, name: str, label: str) -> Row:
    """The row of ``name``: its computed status and what differs."""
    their_kind = kind_of(their_cls, name) or "attribute"
    our_kind = kind_of(our_cls, name)
    details: list[str] = []
    status: Status
    if our_kind is None:
        status = "absent"
    else:
        their_callable = their_kind in CALLABLE_KINDS
        if their_callable != (our_kind in CALLABLE_KINDS):
            details.append(f"a {our_kind} here")
        elif their_kind in CLASS_CALLABLE_KINDS and our_kind not in CLASS_CALLABLE_KINDS:
            details.append(f"a {our_kind} here (theirs is called on the class)")
        elif their_callable:
            their_sig = signature_of(their_cls, name, their_kind)
            our_sig = signature_of(our_cls, name, our_kind)
            if their_sig is not None and our_sig is not None:
                details.extend(signature_problems(their_sig, our_sig))
        status = "different" if details else "same"
    return Row(
        label, name, their_kind, our_kind, status, tuple(details), REASONS.get((label, name))
    )


def rows_for(pair: Pair) -> list[Row]:
    """Every public name of the official class of ``pair``, compared."""
    their_cls, our_cls = load(pair.theirs), load(pair.ours)
    return [compare(their_cls, our_cls, n, pair.their_name) for n in public_names(their_cls)]


def problems_with(
    rows: Iterable[Row], reasons: Mapping[tuple[str, str], Reason] = REASONS
) -> list[str]:
    """Rows without the reason they need, and reasons that no longer fit."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.cls, row.name)
        seen.add(key)
        reason = reasons.get(key)
        if reason is None:
            if row.status != "same":
                problems.append(f"{row.cls}.{row.name} is {row.status} and has no reason")
        elif reason.status != row.status:
            problems.append(
                f"{row.cls}.{row.name} is {row.status}, but its reason says {reason.status}: "
                "update REASONS"
            )
    for key in sorted(set(reasons) - seen):
        problems.append(f"REASONS has {key[0]}.{key[1]}, a name the official class lacks")
    return problems


# Rendering ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shown_name(name: str, kind: str | None) -> str:
    if kind in CALLABLE_KINDS:
        suffix = {"static method": " (static)", "class method": " (class method)"}.get(kind, "")
        return f"`{name}()`{suffix}"
    return f"`{name}`"


def render(groups: list[tuple[Pair, list[Row]]], version: str) -> str:
    """The markdown between the markers."""
    lines = [
        f"Generated by `python tools/migration_table.py` from qiskit-ibm-runtime {version}: do "
        "not edit by hand. *same*: ours has the name, of the same kind, and accepts every "
        "parameter of theirs by name (positional ones at the same position); *different* and "
        "*absent* say why.",
        "",
        "| qiskit-ibm-runtime | qiskit-rest-provider | same | different | absent |",
        "|---|---|---|---|---|",
    ]
    for pair, rows in groups:
        counts = [sum(r.status == s for r in rows) for s in STATUSES]
        lines.append(
            f"| `{pair.their_name}` | `{pair.our_name}` | " + " | ".join(map(str, counts)) + " |"
        )
    for pair, rows in groups:
        lines += [
            "",
            f"### `{pair.their_name}` → `{pair.our_name}`",
            "",
            f"| `{pair.their_name}` | `{pair.our_name}` | Notes |",
            "|---|---|---|",
        ]
        for row in rows:
            notes = ", ".join(row.details)
            if row.reason is not None:
                notes = f"{notes}: {row.reason.text}" if notes else row.reason.text
            ours: str = row.status
            if row.our_kind is not None and row.our_kind != row.their_kind:
                ours = f"{row.status}: {_shown_name(row.name, row.our_kind)}"
            lines.append(f"| {_shown_name(row.name, row.their_kind)} | {ours} | {_cell(notes)} |")
    return "\n".join(lines) + "\n"


def official_version() -> str:
    """The installed qiskit-ibm-runtime's version."""
    return importlib.metadata.version("qiskit-ibm-runtime")


def build() -> tuple[str, list[str]]:
    """The table's markdown and the problems that forbid writing it."""
    groups = [(pair, rows_for(pair)) for pair in PAIRS]
    problems = problems_with(row for _, rows in groups for row in rows)
    return render(groups, official_version()), problems


def splice(document: str, table: str) -> str:
    """``document`` with ``table`` between the markers (which must each appear once)."""
    if document.count(START) != 1 or document.count(END) != 1:
        raise ValueError(f"{DOC.name} must hold each of {START} and {END} exactly once")
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    """Run the command line; returns the exit code (0 ok, 1 stale, 2 problems)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/migration.md's table is stale"
    )
    args = parser.parse_args(argv)
    table, problems = build()
    if problems:
        for problem in problems:
            out(f"error: {problem}")
        return 2
    document = DOC.read_text(encoding="utf-8")
    try:
        updated = splice(document, table)
    except ValueError as exc:
        out(f"error: {exc}")
        return 2
    if args.check:
        if updated != document:
            out(f"{DOC.relative_to(ROOT)}: the migration table is stale; run {sys.argv[0]}")
            return 1
        out(f"{DOC.relative_to(ROOT)}: the migration table is up to date")
        return 0
    if updated != document:
        DOC.write_text(updated, encoding="utf-8")
        out(f"{DOC.relative_to(ROOT)}: migration table written")
    else:
        out(f"{DOC.relative_to(ROOT)}: migration table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
