"""``obd referrers`` and ``obd verify``: list and check streaming referrers of an image.

Register on the main app with ``streaming_cmd.register(app)`` (top-level commands
``referrers`` and ``verify``). For ``obd convert --referrer``: the options
``ReferrerOption``, ``ArtifactTypeOpt`` and ``ExistingOption``, and
``attach_after_convert(report, ...)`` to call once ``convert()`` has returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from overlaybd_py.convert.report import ConvertReport
from overlaybd_py.errors import OverlayBDError
from overlaybd_py.streaming.checks import Check
from overlaybd_py.streaming.discover import list_referrers
from overlaybd_py.streaming.publish import PublishResult, publish_report
from overlaybd_py.streaming.referrer import resolve_artifact_type
from overlaybd_py.streaming.verify import verify_image

from .options import JsonOption
from .registry_opts import registry_command
from .render import emit_json

DIGEST_SHOWN = 19
"""``sha256:`` plus the first 12 hex digits: enough to tell digests apart on screen."""

ImageArg = Annotated[
    str, typer.Argument(help="Image: oci:PATH[:TAG|@DIGEST] or docker://HOST/REPO[:TAG|@DIGEST].")
]


def _checked_artifact_type(value: str | None) -> str | None:
    """Refuse a bad ``--artifact-type`` before any work (``convert`` uses it at the end)."""
    if value is not None:
        try:
            resolve_artifact_type(value)
        except OverlayBDError as error:
            raise typer.BadParameter(str(error).removeprefix("--artifact-type: ")) from None
    return value


ArtifactTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--artifact-type",
        help="Artifact media type, or an alias: azure-streaming, overlaybd-native.",
        callback=_checked_artifact_type,
    ),
]


def short(digest: str) -> str:
    return digest[:DIGEST_SHOWN]


@registry_command
def referrers(
    image: ImageArg,
    artifact_type: ArtifactTypeOpt = None,
    json: JsonOption = False,
) -> None:
    """List the referrers of IMAGE and of each of its platform manifests."""
    found = list_referrers(image, artifact_type)
    if json:
        emit_json([subject.to_dict() for subject in found])
        return
    for subject in found:
        typer.echo(f"{subject.platform} {subject.subject}: {len(subject.referrers)} referrer(s)")
        for referrer in subject.referrers:
            notes = " ".join(f"{k}={v}" for k, v in sorted(referrer.annotations.items()))
            line = f"  {referrer.digest} {referrer.size} {referrer.artifact_type or '-'}"
            typer.echo(f"{line} {notes}".rstrip())


def check_line(check: Check, name_referrer: bool = False) -> str:
    """``PASS name [platform subject]: detail`` or ``FAIL name [platform subject]: reason``;
    with ``name_referrer`` (a subject with several referrers), ``[platform subject referrer R]``.
    """
    status = "PASS" if check.passed else "FAIL"
    parts = [check.platform, short(check.subject)]
    if name_referrer and check.referrer:
        parts.append(f"referrer {short(check.referrer)}")
    tag = " ".join(part for part in parts if part)
    where = f"[{tag}]" if tag else ""
    return f"{status} {check.name} {where}: {check.detail}".replace(" :", ":")


def shared_subjects(checks: Sequence[Check]) -> set[str]:
    """Subjects with more than one referrer among ``checks``."""
    referrers: dict[str, set[str]] = {}
    for check in checks:
        if check.referrer:
            referrers.setdefault(check.subject, set()).add(check.referrer)
    return {subject for subject, found in referrers.items() if len(found) > 1}


@registry_command
def verify(
    image: ImageArg,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also read every byte: digests, block CRCs, ext4.")
    ] = False,
    artifact_type: ArtifactTypeOpt = None,
    json: JsonOption = False,
) -> None:
    """Check the streaming referrer(s) of IMAGE; exit 0 only when every check passes."""
    report = verify_image(image, deep, artifact_type)
    if json:
        emit_json(report.to_dict())
    else:
        shared = shared_subjects(report.checks)
        for check in report.checks:
            typer.echo(check_line(check, check.subject in shared))
        failed = len(report.failures)
        typer.echo(
            f"{'PASS' if report.passed else 'FAIL'}: {len(report.checks)} checks, "
            f"{failed} failed, {len(report.referrers)} referrer(s) of {image}"
        )
    if not report.passed:
        raise typer.Exit(1)


def render_publish(results: Sequence[PublishResult]) -> None:
    """One line per published (or skipped) referrer, for ``obd convert --referrer``."""
    for result in results:
        line = f"referrer {result.action} {result.platform}: {result.referrer}"
        line += f" -> subject {short(result.subject)}"
        if result.indexed_by:
            line += f" ({result.indexed_by})"
        if result.removed:
            line += f"; removed {', '.join(short(d) for d in result.removed)}"
        kept = [d for d in result.removed if d not in result.deleted]
        if kept:
            line += f" (manifest left in place: {', '.join(short(d) for d in kept)})"
        if result.misfiled:
            misfiled = ", ".join(short(d) for d in result.misfiled)
            line += f"; not counted: {misfiled} (listed here, but not a referrer of this subject)"
        if result.restored:
            line += f"; restored missing {', '.join(short(d) for d in result.restored)}"
        typer.echo(line)


def attach_after_convert(
    report: ConvertReport,
    artifact_type: str | None,
    existing: str,
    quiet: bool = False,
    stored: bool = True,
) -> list[PublishResult]:
    """``obd convert --referrer``: attach every converted platform manifest to its source
    (results also land in ``report.referrers``); prints one line per referrer unless quiet.

    ``stored`` says whether ``report.target`` outlives the command (False when no TARGET
    was given and the conversion went to a temporary layout). A failure here comes after
    the conversion, so its message says what is stored already and how to finish, ahead
    of the cause.
    """
    try:
        results = publish_report(report, artifact_type=artifact_type, existing=existing)
    except OverlayBDError as error:
        error.args = (
            f"{attach_failure(report, stored)}: {error}; {how_to_finish(report, stored)}",
        )
        raise
    if not quiet:
        render_publish(results)
    return results


def attach_failure(report: ConvertReport, stored: bool) -> str:
    """What was stored and what failed, for an error in the attach step."""
    if not stored:
        return f"converted, but attaching the result as a referrer of {report.source} failed"
    return (
        f"the converted image is stored at {report.target}, but attaching it as a referrer "
        f"of {report.source} failed"
    )


def how_to_finish(report: ConvertReport, stored: bool) -> str:
    """The command that completes the attach (blobs already stored are not pushed again)."""
    target = f" {report.target}" if stored else ""
    return (
        f"to finish, run the same `obd convert {report.source}{target} --referrer ...` again "
        "(what is already stored is not pushed again)"
    )


def register(app: typer.Typer) -> None:
    """Add ``referrers`` and ``verify`` as top-level commands of ``app``."""
    app.command("referrers")(referrers)
    app.command("verify")(verify)


ReferrerOption = Annotated[
    bool,
    typer.Option(
        "--referrer", help="Also attach the result to the source image as a streaming referrer."
    ),
]
ExistingOption = Annotated[
    str,
    typer.Option(
        "--existing",
        help="When the source already has such a referrer: skip, replace or add.",
    ),
]
