"""Image names: every transport, Docker Hub normalisation, one-line errors."""

from __future__ import annotations

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.oci.reference import (
    DockerArchiveReference,
    LayoutReference,
    RegistryReference,
    parse_reference,
)

D1 = "sha256:" + "a" * 64

CASES = [
    ("oci:/data/layout", LayoutReference("oci", "/data/layout")),
    ("oci:rel/dir:v1.2", LayoutReference("oci", "rel/dir", "v1.2")),
    ("oci:/l:example.com/app:v1", LayoutReference("oci", "/l", "example.com/app:v1")),
    (f"oci:./l@{D1}", LayoutReference("oci", "./l", None, D1)),
    ("oci:/a@b/c:t", LayoutReference("oci", "/a@b/c", "t")),
    ("oci-archive:img.tar", LayoutReference("oci-archive", "img.tar")),
    ("oci-archive:img.tar:amd64", LayoutReference("oci-archive", "img.tar", "amd64")),
    ("docker-archive:save.tar", DockerArchiveReference("save.tar")),
    (
        "docker-archive:save.tar:busybox:1.36",
        DockerArchiveReference("save.tar", name="docker.io/library/busybox:1.36"),
    ),
    ("docker-archive:save.tar:@2", DockerArchiveReference("save.tar", index=2)),
    ("docker://busybox", RegistryReference("docker.io", "library/busybox", "latest")),
    ("busybox:1.36", RegistryReference("docker.io", "library/busybox", "1.36")),
    ("docker://user/app", RegistryReference("docker.io", "user/app", "latest")),
    ("index.docker.io/nginx", RegistryReference("docker.io", "library/nginx", "latest")),
    ("registry-1.docker.io/a/b:c", RegistryReference("docker.io", "a/b", "c")),
    ("ghcr.io/org/repo/sub:tag", RegistryReference("ghcr.io", "org/repo/sub", "tag")),
    ("localhost:5000/hello", RegistryReference("localhost:5000", "hello", "latest")),
    ("localhost/hello:x", RegistryReference("localhost", "hello", "x")),
    (f"docker://quay.io/a/b@{D1}", RegistryReference("quay.io", "a/b", None, D1)),
    (f"quay.io/a/b:t@{D1}", RegistryReference("quay.io", "a/b", "t", D1)),
    ("127.0.0.1:5000/x-y_z.w:1", RegistryReference("127.0.0.1:5000", "x-y_z.w", "1")),
    ("[::1]:5000/a", RegistryReference("[::1]:5000", "a", "latest")),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse(text: str, expected: object) -> None:
    assert parse_reference(text) == expected


def test_registry_endpoint_and_reference() -> None:
    hub = parse_reference("busybox")
    assert isinstance(hub, RegistryReference)
    assert hub.endpoint == "registry-1.docker.io"
    assert hub.reference == "latest"
    assert str(hub) == "docker://docker.io/library/busybox:latest"
    pinned = parse_reference(f"ghcr.io/a/b:t@{D1}")
    assert isinstance(pinned, RegistryReference)
    assert pinned.endpoint == "ghcr.io"
    assert pinned.reference == D1
    assert str(pinned.with_tag("obd")) == "docker://ghcr.io/a/b:obd"


def test_round_trip_of_string_forms() -> None:
    for text, _ in CASES:
        ref = parse_reference(text)
        assert parse_reference(str(ref)) == ref


BAD = [
    ("", "non-empty"),
    ("oci:", "expected a path"),
    ("oci:dir:", "expected a tag after ':'"),
    ("oci:dir@sha256:1234", "expected '@sha256:<64 hex>'"),
    ("docker-archive:f.tar:@x", "expected ':@N'"),
    ("Busybox", "lowercase repository path"),
    ("docker://a//b", "lowercase repository path"),
    ("busybox:-bad", "expected a tag"),
    ("busybox@sha256:zz", "expected '@sha256:<64 hex>'"),
    ("http://example.com/x", "expected a transport"),
    (" busybox", "without spaces"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ImageError) as info:
        parse_reference(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
