"""Open a converted OverlayBD image as a block device and a filesystem (spec §11).

Every layer blob is read through a positional byte source: a local blob file for
OCI layouts, HTTP range requests for registries. Only the headers, the jump
tables and the indexes are read on open; file data is fetched when it is read.
Registry images go through a :class:`~.fetcher.BlockFetcher` per layer and the
persistent :class:`~.cache.ChunkCache`; a source image that is not an OverlayBD
image is replaced by its streaming referrer (spec §8).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from ..errors import FormatError, ImageError, OverlayBDError, UnsupportedError
from ..io import ByteSource
from ..layer import LayerBlob, open_layer_blob
from ..lsmt.stack import LayerStack
from ..oci import gojson
from ..oci.descriptor import Descriptor
from ..oci.image import ImageSource, open_source
from ..oci.manifest import subject_digest
from ..oci.platform import Platform, host_platform
from ..oci.reference import (
    OCI,
    ImageReference,
    LayoutReference,
    RegistryReference,
    parse_reference,
)
from ..oci.resolve import ResolvedImage
from ..registry.image import RegistrySource
from ..registry.options import RegistryHosts
from .cache import DEFAULT_LIMIT, ChunkCache, default_cache_dir
from .chunks import DEFAULT_CHUNK_SIZE
from .fetcher import DEFAULT_MEMORY_CHUNKS, DEFAULT_READAHEAD
from .filesystem import ImageFilesystem
from .layer import open_lazy_layer
from .referrer import (
    Referral,
    find_layout_referrers,
    find_streaming_referrers,
    is_overlaybd_image,
    no_referrer,
)
from .stats import CountingSource, ImageStats, LayerStats

log = logging.getLogger(__name__)

REFERRER_MODES = ("auto", "always", "never")
OPEN_THREADS = 8


@dataclass(frozen=True)
class LazyOptions:
    """How images are read (everything but ``referrer`` concerns registry images only).

    ``referrer``: ``auto`` follows the streaming referrer (in a registry or an ``oci:``
    layout) when the named image is not an OverlayBD image, ``always`` insists on it,
    ``never`` opens the name as is.
    ``cache`` shares an open cache (the image does not close it); otherwise one is
    opened at ``cache_dir`` (default :func:`~.cache.default_cache_dir`) unless
    ``use_cache`` is False.
    """

    hosts: RegistryHosts | None = None  # None: the ``docker://`` transport's configured hosts
    use_cache: bool = True
    cache_dir: str | None = None
    cache_limit: int = DEFAULT_LIMIT
    cache: ChunkCache | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    readahead: int = DEFAULT_READAHEAD
    memory_chunks: int = DEFAULT_MEMORY_CHUNKS
    referrer: str = "auto"

    def __post_init__(self) -> None:
        if self.referrer not in REFERRER_MODES:
            raise ImageError(
                f"referrer mode: expected one of {', '.join(REFERRER_MODES)}, found "
                f"{self.referrer!r}"
            )
        if self.chunk_size <= 0 or self.readahead < 0 or self.memory_chunks <= 0:
            raise ImageError(
                f"lazy options: expected chunk size > 0, readahead >= 0 and memory chunks > 0, "
                f"found {self.chunk_size}, {self.readahead}, {self.memory_chunks}"
            )


class OverlayImage:
    """A converted image opened for reading: ``device`` is the merged virtual disk.

    ``stats`` counts the bytes and requests spent on each layer blob.
    """

    def __init__(
        self,
        source: ImageSource,
        image: ResolvedImage,
        lazy: LazyOptions | None = None,
        cache: ChunkCache | None = None,
        owns_cache: bool = False,
    ) -> None:
        self.source = source
        self.image = image
        self.name = source.name
        self.lazy = lazy
        self.cache = cache
        self._stack = ExitStack()
        if owns_cache and cache is not None:
            self._stack.callback(cache.close)
        self.stats = ImageStats([LayerStats(d.digest, d.size) for d in image.layers])
        try:
            count = len(image.layers)
            with ThreadPoolExecutor(max(1, min(OPEN_THREADS, count))) as pool:
                self.layers: list[LayerBlob] = list(pool.map(self._open_layer, range(count)))
        except BaseException:
            self.close()
            raise
        self.device = LayerStack([b.lsmt for b in self.layers], name=self.name)
        self._fs: ImageFilesystem | None = None

    def _open_layer(self, position: int) -> LayerBlob:
        layer = self.image.layers[position]
        blob = self._blob_source(layer)
        stats = self.stats.layers[position]
        try:
            if self.lazy is None:
                return open_layer_blob(CountingSource(blob, stats))
            return open_lazy_layer(
                blob,
                layer.digest,
                stats,
                self.cache,
                chunk_size=self.lazy.chunk_size,
                readahead=self.lazy.readahead,
                memory_chunks=self.lazy.memory_chunks,
            )
        except FormatError as exc:
            raise ImageError(
                f"{self.name}: layer {position} ({layer.digest}) is not a readable OverlayBD layer "
                f"(a plain layer, or a truncated or corrupt blob): {exc}"
            ) from None

    def _blob_source(self, layer: Descriptor) -> ByteSource:
        opener = getattr(self.source, "blob_source", None)
        if opener is None:
            raise UnsupportedError(f"{self.name}: this transport cannot read blob ranges")
        source = opener(layer)
        self._stack.callback(getattr(source, "close", lambda: None))
        return source  # type: ignore[no-any-return]

    @property
    def platform(self) -> Platform:
        return self.image.platform

    def filesystem(self) -> ImageFilesystem:
        """The ext4 filesystem on the merged disk, read-only and safe to share by threads."""
        if self._fs is None:
            self._fs = ImageFilesystem(self.device)
        return self._fs

    def close(self) -> None:
        self._stack.close()
        self.source.close()

    def __enter__(self) -> OverlayImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pick_image(
    images: Sequence[ResolvedImage], wanted: Sequence[Platform] | None, name: str
) -> ResolvedImage:
    """One image: the requested platform, else the host's out of an index.

    A manifest named directly is read whatever its platform; an index must hold one
    for the host (or for ``wanted``), even when it holds only one image.
    """
    if wanted and images:
        return images[0]  # resolving kept only the wanted platforms
    if len(images) == 1 and not images[0].parents:
        return images[0]
    host = host_platform()
    for image in images:
        if image.platform.matches(host):
            return image
    choices = ", ".join(str(i.platform) for i in images)
    wanted_text = ", ".join(map(str, wanted)) if wanted else f"the host platform {host}"
    raise ImageError(f"{name}: no image for {wanted_text}; choose one with --platform: {choices}")


def open_image(
    reference: str | ImageReference,
    platforms: Sequence[Platform] | None = None,
    options: LazyOptions | None = None,
) -> OverlayImage:
    """Open a converted image (one platform of it) for reading.

    Layouts and archives are read from their local files; registry names
    (``docker://HOST/REPO:TAG`` or ``HOST/REPO:TAG``) lazily, through the cache.
    A source image that is not OverlayBD is replaced by its streaming referrer
    (registries and ``oci:`` layouts; ``options.referrer`` says when).
    """
    if not isinstance(reference, str | ImageReference):
        raise ImageError(f"expected an image name such as oci:DIR:TAG, found {reference!r}")
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if isinstance(ref, RegistryReference):
        return _open_registry_image(ref, platforms, options or LazyOptions())
    mode = (options or LazyOptions()).referrer
    source = open_source(ref)
    try:
        image = pick_image(source.resolve(platforms or None), platforms, source.name)
        if _wants_referrer(mode, image):
            referrals = _layout_referrals(ref, mode, image, source.root())
            if referrals and isinstance(ref, LayoutReference):
                layout = ref.path
                referred, image = _follow_referrer(
                    referrals,
                    lambda digest: open_source(LayoutReference(OCI, layout, None, digest)),
                    image,
                    platforms,
                    str(ref),
                )
                source.close()
                source = referred
        return OverlayImage(source, image)
    except BaseException:
        source.close()
        raise


def _wants_referrer(mode: str, image: ResolvedImage) -> bool:
    """Whether to look for a streaming referrer instead of opening ``image`` itself."""
    return mode == "always" or (mode == "auto" and not is_overlaybd_image(image))


def _layout_referrals(
    ref: ImageReference, mode: str, image: ResolvedImage, root: Descriptor
) -> list[Referral]:
    """The streaming referrers in an ``oci:`` layout; none in ``auto`` mode when there is none.

    ``auto`` then opens the image as it is (its layers say whether they are OverlayBD);
    ``always`` raises :class:`~overlaybd_py.errors.NotFoundError`.
    """
    if not (isinstance(ref, LayoutReference) and ref.transport == OCI):
        if mode == "always":
            raise UnsupportedError(
                f"{ref}: --referrer always needs an oci: layout directory or a registry, "
                f"found the {ref.transport} transport"
            )
        return []
    referrals = find_layout_referrers(ref, image, root)
    if not referrals:
        if mode == "always":
            raise no_referrer(f"oci:{ref.path}", image, root)
        log.info("%s: no streaming referrer; opening the image as it is", ref)
    return referrals


def _follow_referrer(
    referrals: Sequence[Referral],
    open_digest: Callable[[str], ImageSource],
    image: ResolvedImage,
    platforms: Sequence[Platform] | None,
    where: str,
) -> tuple[ImageSource, ResolvedImage]:
    """The first listed referrer that exists, points back at its subject and has the
    source image's platform. Listings can be stale (a deleted manifest) or wrong (a
    tag-schema index is only a convention), so each is checked and the next tried."""
    problems: list[str] = []
    for referral in referrals:
        digest = referral.descriptor.digest
        try:
            referred = open_digest(digest)
        except OverlayBDError as exc:
            problems.append(f"{digest}: {exc}")
            continue
        try:
            chosen = pick_image(referred.resolve(platforms or None), platforms, referred.name)
            _check_referral(referred, referral.subject, chosen, image)
        except OverlayBDError as exc:
            referred.close()
            problems.append(f"{digest}: {exc}")
            continue
        for problem in problems:
            log.warning("%s: skipped streaming referrer %s", where, problem)
        log.info("%s: reading streaming referrer %s", where, digest)
        return referred, chosen
    raise ImageError(
        f"{where}: no usable streaming referrer of {image.descriptor.digest} "
        f"({len(referrals)} listed): " + "; ".join(problems)
    )


def _check_referral(
    referred: ImageSource, subject: str, chosen: ResolvedImage, image: ResolvedImage
) -> None:
    """A referrer must name the subject it was listed under and carry the same platform."""
    root = referred.root()
    named = subject_digest(gojson.load_object(referred.fetch(root), f"referrer {root.digest}"))
    if named != subject:
        raise ImageError(f"listed as a referrer of {subject}, but its subject is {named}")
    if not chosen.platform.matches(image.platform):
        raise ImageError(f"its image is {chosen.platform}, the source image is {image.platform}")


def _open_registry_image(
    ref: RegistryReference, platforms: Sequence[Platform] | None, options: LazyOptions
) -> OverlayImage:
    registry = _registry_source(ref, options.hosts)
    source: ImageSource = registry
    try:
        image = pick_image(source.resolve(platforms or None), platforms, source.name)
        if _wants_referrer(options.referrer, image):
            repository = ref.repository
            root = source.root()
            referrals = find_streaming_referrers(registry.client, repository, image, root)
            if not referrals:
                raise no_referrer(f"{ref.registry}/{repository}", image, root)
            source, image = _follow_referrer(
                referrals,
                lambda digest: _referred_source(registry, digest),
                image,
                platforms,
                str(ref),
            )
        if not is_overlaybd_image(image):
            log.warning("%s: layers lack the OverlayBD annotations; trying them anyway", ref)
        cache = options.cache
        owns_cache = False
        if cache is None and options.use_cache:
            cache = _open_cache(options)
            owns_cache = cache is not None
        try:
            return OverlayImage(source, image, options, cache, owns_cache)
        except BaseException:
            if owns_cache and cache is not None:
                cache.close()
            raise
    except BaseException:
        source.close()
        raise


def _open_cache(options: LazyOptions) -> ChunkCache | None:
    """The persistent cache; a directory that cannot hold it costs a warning, not the read."""
    try:
        return ChunkCache(options.cache_dir, options.cache_limit)
    except (OSError, sqlite3.Error) as error:
        where = options.cache_dir or default_cache_dir()
        log.warning(
            "cache %s is unusable (%s); reading without a cache (--cache-dir picks another)",
            where,
            error,
        )
        return None


def _registry_source(ref: RegistryReference, hosts: RegistryHosts | None) -> RegistrySource:
    """The ``docker://`` transport's source, on a client from ``hosts`` when given."""
    source = RegistrySource(ref)
    if hosts is not None:
        source.client = hosts.client_for(ref)
    return source


def _referred_source(subject: RegistrySource, digest: str) -> RegistrySource:
    """A referrer in the subject's repository, read with the subject's client (and so
    with the options given for the subject's name)."""
    ref = subject.ref
    source = RegistrySource(RegistryReference(ref.registry, ref.repository, None, digest))
    source.client = subject.client
    return source
