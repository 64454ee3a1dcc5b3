"""The library's exceptions: one base class, one subclass per kind of failure.

Every message is one line that says what was expected, what was found and where
(a file offset, a block number, an entry index, a path or a URL).
"""

from __future__ import annotations


class OverlayBDError(Exception):
    """Base of every error raised by overlaybd-py on bad input or a failed operation."""


class FormatError(OverlayBDError):
    """Bytes that do not follow the format (wrong magic, impossible size, broken invariant)."""


class ChecksumError(FormatError):
    """A stored checksum or digest does not match the bytes it covers."""


class UnsupportedError(OverlayBDError):
    """Valid input that uses a feature this library does not implement."""


class ConversionError(OverlayBDError):
    """An image or layer could not be converted (bad tar member, no space left, ...)."""


class ImageError(OverlayBDError):
    """An image reference, layout, manifest or config is missing or malformed."""


class RegistryError(OverlayBDError):
    """A registry request failed (HTTP status, network, protocol)."""


class AuthError(RegistryError):
    """The registry refused the credentials, or none were available."""


class NotFoundError(OverlayBDError, FileNotFoundError):
    """A path, blob, manifest or tag does not exist."""
