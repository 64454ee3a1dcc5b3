"""``obd referrers`` and ``obd verify``: list and check streaming referrers of an image.

Register on the main app with ``streaming_cmd.register(app)`` (top-level commands
``referrers`` and ``verify``). ``render_publish`` prints what
:func:`overlaybd_py.streaming.publish.publish_report` did, for ``obd convert --referrer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from overlaybd_py.registry.options import HostOptions, RegistryHosts
from overlaybd_py.streaming.checks import Check
from overlaybd_py.streaming.discover import list_referrers
from overlaybd_py.streaming.publish import PublishResult
from overlaybd_py.streaming.verify import verify_image

from .render import emit_json

DIGEST_SHOWN = 19
"""``sha256:`` plus the first 12 hex digits: enough to tell digests apart on screen."""

ImageArg = Annotated[
    str, typer.Argument(help="Image: oci:PATH[:TAG|@DIGEST] or docker://HOST/REPO[:TAG|@DIGEST].")
]
ArtifactTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--artifact-type",
        help="Artifact media type, or an alias: azure-streaming, overlaybd-native.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CredsOpt = Annotated[str | None, typer.Option("--creds", help="Registry USER:PASSWORD.")]
CaFileOpt = Annotated[str | None, typer.Option("--ca-file", help="Extra trusted CA (PEM).")]
CertDirOpt = Annotated[
    str | None, typer.Option("--cert-dir", help="certs.d-style directory (CAs, client cert).")
]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Skip TLS verification.")]
PlainHttpOpt = Annotated[bool, typer.Option("--plain-http", help="Use HTTP, not HTTPS.")]


def registry_hosts(
    creds: str | None, ca_file: str | None, cert_dir: str | None, insecure: bool, plain_http: bool
) -> RegistryHosts:
    """Registry options from the oras-style flags, for every host the command contacts."""
    options = HostOptions.from_cli(
        creds, ca_file=ca_file, cert_dir=cert_dir, insecure=insecure, plain_http=plain_http
    )
    return RegistryHosts(default=options)


def short(digest: str) -> str:
    return digest[:DIGEST_SHOWN]


def referrers(
    image: ImageArg,
    artifact_type: ArtifactTypeOpt = None,
    json: JsonOpt = False,
    creds: CredsOpt = None,
    ca_file: CaFileOpt = None,
    cert_dir: CertDirOpt = None,
    insecure: InsecureOpt = False,
    plain_http: PlainHttpOpt = False,
) -> None:
    """List the referrers of IMAGE and of each of its platform manifests."""
    hosts = registry_hosts(creds, ca_file, cert_dir, insecure, plain_http)
    found = list_referrers(image, artifact_type, hosts=hosts)
    if json:
        emit_json([subject.to_dict() for subject in found])
        return
    for subject in found:
        typer.echo(f"{subject.platform} {subject.subject}: {len(subject.referrers)} referrer(s)")
        for referrer in subject.referrers:
            notes = " ".join(f"{k}={v}" for k, v in sorted(referrer.annotations.items()))
            line = f"  {referrer.digest} {referrer.size} {referrer.artifact_type or '-'}"
            typer.echo(f"{line} {notes}".rstrip())


def check_line(check: Check) -> str:
    """``PASS name [subject]: detail`` or ``FAIL name [subject]: reason``."""
    status = "PASS" if check.passed else "FAIL"
    where = f"[{short(check.subject)}]" if check.subject else ""
    return f"{status} {check.name} {where}: {check.detail}".replace(" :", ":")


def verify(
    image: ImageArg,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also read every byte: digests, block CRCs, ext4.")
    ] = False,
    artifact_type: ArtifactTypeOpt = None,
    json: JsonOpt = False,
    creds: CredsOpt = None,
    ca_file: CaFileOpt = None,
    cert_dir: CertDirOpt = None,
    insecure: InsecureOpt = False,
    plain_http: PlainHttpOpt = False,
) -> None:
    """Check the streaming referrer(s) of IMAGE; exit 0 only when every check passes."""
    hosts = registry_hosts(creds, ca_file, cert_dir, insecure, plain_http)
    report = verify_image(image, deep, artifact_type, hosts=hosts)
    if json:
        emit_json(report.to_dict())
    else:
        for check in report.checks:
            typer.echo(check_line(check))
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
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``referrers`` and ``verify`` as top-level commands of ``app``."""
    app.command("referrers")(referrers)
    app.command("verify")(verify)
