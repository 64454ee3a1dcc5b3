"""Registry connection options, named as oras names them, for every command that opens images.

``--creds``, ``--plain-http``, ``--insecure``, ``--ca-file`` and ``--cert-dir`` apply to
every registry a command talks to; ``obd convert`` also takes ``--src-*`` and
``--dest-*`` variants that apply to the source or the target image only, even when
both are on the same registry host.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from urllib3.exceptions import InsecureRequestWarning

from overlaybd_py.oci.reference import RegistryReference, parse_reference
from overlaybd_py.registry import HostOptions, RegistryHosts
from overlaybd_py.registry.image import configure

CredsOption = Annotated[
    str | None,
    typer.Option("--creds", help="USER:PASSWORD for the registry (else env, docker config)."),
]
PlainHttpOption = Annotated[
    bool, typer.Option("--plain-http", help="Talk HTTP instead of HTTPS to the registry.")
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Skip TLS certificate verification.")
]
CaFileOption = Annotated[
    str | None, typer.Option("--ca-file", help="PEM file of CA certificates to trust.")
]
CertDirOption = Annotated[
    str | None,
    typer.Option("--cert-dir", help="containerd-style certs.d/HOST directory (CAs, client cert)."),
]


@dataclass(frozen=True)
class RegistryFlags:
    """The connection flags of one side (or of both) as given on the command line."""

    creds: str | None = None
    plain_http: bool = False
    insecure: bool = False
    ca_file: str | None = None
    cert_dir: str | None = None

    def over(self, base: RegistryFlags) -> RegistryFlags:
        """These flags where given, ``base`` elsewhere."""
        return RegistryFlags(
            creds=self.creds or base.creds,
            plain_http=self.plain_http or base.plain_http,
            insecure=self.insecure or base.insecure,
            ca_file=self.ca_file or base.ca_file,
            cert_dir=self.cert_dir or base.cert_dir,
        )

    def host_options(self, prefix: str = "--", ca_prefix: str = "--") -> HostOptions:
        """Options from these flags; ``prefix`` (``--src-``, ``--dest-``) names the flag
        for the credentials in an error about them (the one that gave them, or the one
        to give), ``ca_prefix`` the flag that gave the CA file."""
        return HostOptions.from_cli(
            self.creds,
            ca_file=self.ca_file,
            cert_dir=self.cert_dir,
            insecure=self.insecure,
            plain_http=self.plain_http,
            creds_flag=f"{prefix}creds",
            ca_flag=f"{ca_prefix}ca-file",
        )


SIDE_PREFIXES = ("--src-", "--dest-")
"""Flag prefixes of the entries of ``sides``, in order: the source, then the target."""


def use_registries(common: RegistryFlags, sides: dict[str, RegistryFlags] | None = None) -> None:
    """Configure the ``docker://`` transport: ``common`` for every registry, and for each
    image in ``sides`` (the source, then the target, as ``obd convert`` gives them) its
    own flags over ``common``, for that image alone: a source and a target on one host
    keep their own credentials and TLS settings, as with skopeo's ``--src-*``/``--dest-*``.
    """
    hosts = RegistryHosts(common.host_options())
    insecure = common.insecure
    for position, (reference, flags) in enumerate((sides or {}).items()):
        ref = parse_reference(reference)
        side = SIDE_PREFIXES[position] if position < len(SIDE_PREFIXES) else "--"
        # The credentials flag errors name: the side's own when it gave them or when no
        # flag did (the one to give), else the shared --creds.
        creds_prefix = "--" if common.creds and not flags.creds else side
        options = flags.over(common).host_options(creds_prefix, side if flags.ca_file else "--")
        if isinstance(ref, RegistryReference):
            hosts.set_image(ref, options)
            insecure = insecure or flags.insecure
    if insecure:
        # The user asked for unverified TLS; urllib3 would repeat it on every request.
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    configure(hosts)


_FLAG_PARAMETERS = (
    ("creds", CredsOption, None),
    ("plain_http", PlainHttpOption, False),
    ("insecure", InsecureOption, False),
    ("ca_file", CaFileOption, None),
    ("cert_dir", CertDirOption, None),
)


def registry_command(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared registry flags.

    The flags are appended to the command's signature for typer; the wrapper turns
    them into :class:`RegistryFlags` and either passes them on (to a command that takes
    a ``registry_flags`` parameter, which configures registries itself) or applies them
    to every registry with :func:`use_registries` before the command runs.
    """
    # Resolved annotations: typer reads the Annotated options from this signature.
    signature = inspect.signature(command, eval_str=True)
    takes_flags = "registry_flags" in signature.parameters
    own = [p for name, p in signature.parameters.items() if name != "registry_flags"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _FLAG_PARAMETERS
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        flags = RegistryFlags(*(kwargs.pop(name) for name, _, _ in _FLAG_PARAMETERS))
        if takes_flags:
            kwargs["registry_flags"] = flags
        else:
            use_registries(flags)
        command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
    return wrapper
