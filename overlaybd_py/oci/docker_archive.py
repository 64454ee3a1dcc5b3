"""``docker-archive:``: the ``docker save`` tarball, read as an image store.

The archive has ``manifest.json`` (a list of ``{Config, RepoTags, Layers}``) and the
files it names. There is no registry manifest inside, so one is synthesised with
Docker media types. Layer digests come from the file name when it is a content
address (``blobs/sha256/<hex>``, Docker 25+), from the config's diff_ids when the
layer is an uncompressed tar (legacy ``<id>/layer.tar``), or else by hashing the file;
every blob is still digest-checked when read.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..compression import detect
from ..errors import ImageError, NotFoundError, UnsupportedError
from ..io import ByteSource, BytesSource
from . import gojson
from . import mediatypes as mt
from .archive import open_archive_storage
from .blobio import MAX_JSON_BLOB, read_verified, verified_stream
from .config import diff_ids, parse_config
from .descriptor import Descriptor
from .digest import sha256_stream
from .layout import LayoutStorage
from .manifest import Manifest
from .reference import parse_registry_reference

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
LEGACY_REPOSITORIES_FILE = "repositories"
_CONTENT_ADDRESS = re.compile(r"^blobs/(sha256)/([0-9a-f]{64})$")
_LAYER_TYPES = {
    "none": mt.DOCKER_LAYER_TAR,
    "gzip": mt.DOCKER_LAYER_GZIP,
    "zstd": mt.DOCKER_LAYER_ZSTD,
}


@dataclass(frozen=True)
class _Image:
    repo_tags: tuple[str, ...]
    config_path: str
    layer_paths: tuple[str, ...]


class DockerArchive:
    """A ``docker save`` tarball, with the image-store methods ``ImageSource`` uses."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"docker-archive:{path}"
        self.storage: LayoutStorage = open_archive_storage(path)
        self._images = self._read_manifest_list()
        self._paths: dict[str, str] = {}
        self._memory: dict[str, bytes] = {}

    def _read_manifest_list(self) -> list[_Image]:
        where = f"{self.path}/{MANIFEST_FILE}"
        if not self.storage.exists(MANIFEST_FILE):
            if self.storage.exists(LEGACY_REPOSITORIES_FILE):
                raise UnsupportedError(
                    f"{self.path}: archives from docker before 1.10 (a 'repositories' file "
                    "and no manifest.json) are not supported"
                )
            raise ImageError(f"{where}: expected the manifest.json of a docker save archive")
        with self.storage.open(MANIFEST_FILE) as handle:
            entries = gojson.loads(handle.read(MAX_JSON_BLOB), where)
        if not isinstance(entries, list) or not entries:
            raise ImageError(f"{where}: expected a non-empty array of images")
        return [_parse_entry(entry, f"{where}[{i}]") for i, entry in enumerate(entries)]

    def tags(self) -> list[str]:
        """Every ``RepoTags`` name in the archive."""
        return [tag for image in self._images for tag in image.repo_tags]

    def resolve(self, name: str | None = None, index: int | None = None) -> Descriptor:
        """The synthesised manifest of the image ``name``, number ``index``, or the only one."""
        image = self._select(name, index)
        return self._synthesise(image)

    def _select(self, name: str | None, index: int | None) -> _Image:
        if index is not None:
            if not 0 <= index < len(self._images):
                raise NotFoundError(
                    f"{self.name}: no image @{index}; the archive holds {len(self._images)}"
                )
            return self._images[index]
        if name is not None:
            for image in self._images:
                if any(_normalise(tag) == name for tag in image.repo_tags):
                    return image
            raise NotFoundError(
                f"{self.name}: no image named {name}; names: {', '.join(self.tags()) or 'none'}"
            )
        if len(self._images) == 1:
            return self._images[0]
        choices = ", ".join(
            image.repo_tags[0] if image.repo_tags else f"@{i}"
            for i, image in enumerate(self._images)
        )
        raise ImageError(
            f"{self.name}: expected one image, found {len(self._images)}; choose one of: {choices}"
        )

    def _synthesise(self, image: _Image) -> Descriptor:
        config_bytes = self._read_small(image.config_path)
        config_desc = Descriptor.for_bytes(mt.DOCKER_CONFIG, config_bytes)
        self._memory[config_desc.digest] = config_bytes
        config = parse_config(config_bytes, f"{self.path}/{image.config_path}")
        ids = diff_ids(config, f"{self.path}/{image.config_path}")
        if len(ids) != len(image.layer_paths):
            raise ImageError(
                f"{self.path}: image {image.config_path} lists {len(image.layer_paths)} layers "
                f"but its config has {len(ids)} diff_ids"
            )
        layers = tuple(
            self._layer_descriptor(path, diff_id)
            for path, diff_id in zip(image.layer_paths, ids, strict=True)
        )
        manifest = Manifest(config_desc, layers, media_type=mt.DOCKER_MANIFEST)
        data = manifest.to_bytes()
        descriptor = Descriptor.for_bytes(mt.DOCKER_MANIFEST, data)
        self._memory[descriptor.digest] = data
        return descriptor

    def _layer_descriptor(self, path: str, diff_id: str) -> Descriptor:
        size = self.storage.size(path)
        with self.storage.open(path) as handle:
            compression = detect(handle.read(4))
        match = _CONTENT_ADDRESS.match(path)
        if match:
            digest = f"{match.group(1)}:{match.group(2)}"
        elif compression == "none":
            digest = diff_id
        else:
            with self.storage.open(path) as handle:
                digest, _ = sha256_stream(handle)
        self._paths[digest] = path
        return Descriptor(_LAYER_TYPES[compression], digest, size)

    def _read_small(self, path: str) -> bytes:
        if self.storage.size(path) > MAX_JSON_BLOB:
            raise ImageError(f"{self.path}/{path}: config larger than {MAX_JSON_BLOB} bytes")
        with self.storage.open(path) as handle:
            return handle.read()

    def _raw(self, descriptor: Descriptor) -> BinaryIO:
        if descriptor.digest in self._memory:
            return io.BytesIO(self._memory[descriptor.digest])
        path = self._paths.get(descriptor.digest)
        if path is None:
            raise NotFoundError(f"{self.name}: no blob {descriptor.digest}")
        return self.storage.open(path)

    def fetch(self, descriptor: Descriptor) -> bytes:
        """A whole small blob, digest-checked."""
        return read_verified(self._raw(descriptor), descriptor, f"{self.name} {descriptor.digest}")

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        """A digest-checked stream of a blob."""
        return verified_stream(
            self._raw(descriptor), descriptor, f"{self.name} {descriptor.digest}"
        )

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        """Positional access to a blob (not digest-checked)."""
        if descriptor.digest in self._memory:
            return BytesSource(self._memory[descriptor.digest])
        path = self._paths.get(descriptor.digest)
        if path is None:
            raise NotFoundError(f"{self.name}: no blob {descriptor.digest}")
        return self.storage.source(path)

    def close(self) -> None:
        """Release temporary files."""
        self.storage.close()


def _parse_entry(entry: Any, where: str) -> _Image:
    if not isinstance(entry, dict):
        raise ImageError(f"{where}: expected an object, found {gojson.type_name(entry)}")
    config = entry.get("Config")
    layers = entry.get("Layers")
    tags = entry.get("RepoTags") or []
    if not isinstance(config, str) or not config:
        raise ImageError(f"{where}.Config: expected a file name, found {config!r}")
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise ImageError(f"{where}.Layers: expected an array of file names, found {layers!r}")
    if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
        raise ImageError(f"{where}.RepoTags: expected an array of names, found {tags!r}")
    return _Image(tuple(tags), config, tuple(layers))


def _normalise(tag: str) -> str:
    try:
        ref = parse_registry_reference(tag)
    except ImageError:
        return tag
    return f"{ref.name}:{ref.tag}"
