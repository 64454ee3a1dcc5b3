"""``obd referrers`` and ``obd verify`` end to end, in a subprocess, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from overlaybd_cli import streaming_cmd

from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.errors import RegistryError
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import RegistryHosts
from overlaybd_py.streaming.publish import publish_converted, publish_report
from tests.cli.helpers import assert_one_line_error
from tests.cli.helpers import obd as run_obd
from tests.registry.registry_server import RegistryServer, start_plain_registry

from .conftest import INDEX_TAG, SOURCE_TAG, Converted, convert_into, copy_hello
from .helpers import flip_byte, layout_blob, push_image


# The commands on the real ``obd`` app and its main() (error handling included), whether
# or not app.py registers them already.
def obd(*args: str) -> subprocess.CompletedProcess[str]:
    return run_obd(*args, check=False, timeout=300)


def test_referrers_and_verify_on_a_layout(converted: Converted) -> None:
    (published,) = publish_report(converted.report)

    listing = obd("referrers", converted.source)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("linux/amd64 sha256:7e9b6e7b")
    assert lines[0].endswith("1 referrer(s)")
    assert lines[1].split()[:3] == [published.referrer, "1013", published.artifact_type]
    assert "streaming.platform.arch=amd64" in lines[1]
    as_json = json.loads(obd("referrers", converted.source, "--json").stdout)
    assert as_json[0]["referrers"][0]["digest"] == published.referrer
    none = obd("referrers", converted.source, "--artifact-type", "overlaybd-native")
    assert none.stdout.splitlines()[0].endswith("0 referrer(s)")

    result = obd("verify", converted.source, "--deep")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("PASS ") for line in lines[:-1])
    assert "PASS disk.ext4 [linux/amd64 sha256:7e9b6e7ba284]: " in result.stdout
    assert lines[-1] == f"PASS: 14 checks, 0 failed, 1 referrer(s) of {converted.source}"


def test_verify_reports_failures_and_exits_1(converted: Converted) -> None:
    publish_report(converted.report)
    layer = converted.report.images[0].layers[0]
    path = layout_blob(converted.layout, layer.blob_digest)
    os.chmod(path, 0o644)
    flip_byte(path, layer.blob_size // 2)

    result = obd("verify", converted.source, "--deep")
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert [f.split()[1] for f in failures] == ["layer[0].digest", "layer[0].crc"]
    assert "block CRCs wrong" in failures[1]
    assert result.stdout.splitlines()[-1].startswith("FAIL: 14 checks, 2 failed")

    as_json = json.loads(obd("verify", converted.source, "--deep", "--json").stdout)
    assert as_json["passed"] is False
    assert {c["name"] for c in as_json["checks"] if not c["passed"]} == {
        "layer[0].digest",
        "layer[0].crc",
    }


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = obd("verify", f"oci:{tmp_path / 'nothing'}:x")
    assert_one_line_error(missing, "expected an OCI layout directory")
    alias = obd("referrers", f"oci:{tmp_path}:x", "--artifact-type", "bogus")
    assert_one_line_error(alias, "--artifact-type")
    archive = obd("verify", f"docker-archive:{tmp_path / 'x.tar'}")
    assert_one_line_error(archive, "docker-archive transport")


def test_empty_artifact_type_is_refused_before_converting(tmp_path: Path) -> None:
    for command in (
        ("verify", f"oci:{tmp_path}:x"),
        ("convert", f"oci:{tmp_path}:x", f"oci:{tmp_path}:y", "--referrer"),
    ):
        result = obd(*command, "--artifact-type", "")
        assert_one_line_error(result, "--artifact-type", "found an empty value")


def test_verify_names_the_referrer_when_a_subject_has_several(converted: Converted) -> None:
    (first,) = publish_report(converted.report)
    other = convert(
        converted.source, f"oci:{converted.layout}:zstd", ConvertOptions(algorithm="zstd")
    )
    (second,) = publish_report(other, existing="add")
    path = layout_blob(converted.layout, other.images[0].layers[0].blob_digest)
    os.chmod(path, 0o644)
    flip_byte(path, other.images[0].layers[0].blob_size // 2)

    result = obd("verify", converted.source, "--deep")
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    tag = f"[linux/amd64 sha256:7e9b6e7ba284 referrer {second.referrer[:19]}]"
    assert [f.split(": ")[0] for f in failures] == [
        f"FAIL layer[0].digest {tag}",
        f"FAIL layer[0].crc {tag}",
    ]
    assert (
        f"PASS layer[0].crc [linux/amd64 sha256:7e9b6e7ba284 referrer {first.referrer[:19]}]: "
    ) in (result.stdout)
    assert "PASS referrer.found [linux/amd64 sha256:7e9b6e7ba284]: " in result.stdout


def test_verify_names_the_platform_of_every_line(tmp_path: Path) -> None:
    """The tester's case: among many lines of a multi-platform image, each says which
    platform it is about (in the tag, and as ``platform`` in --json)."""
    layout = copy_hello(tmp_path)
    publish_report(convert_into(layout, INDEX_TAG, "docker-list-obd"))
    children = OCILayout.open_dir(layout).images(INDEX_TAG)
    arm = next(c for c in children if str(c.platform) == "linux/arm64/v8")
    image = f"oci:{layout}:{INDEX_TAG}"

    result = obd("verify", image)
    assert result.returncode == 0, result.stdout + result.stderr
    tag = f"[linux/arm64/v8 {arm.descriptor.digest[:19]}]"
    assert f"PASS referrer.found {tag}: " in result.stdout
    assert f"PASS layer[0].format {tag}: " in result.stdout
    as_json = json.loads(obd("verify", image, "--json").stdout)
    platforms = {c["subject"]: c["platform"] for c in as_json["checks"]}
    assert platforms[arm.descriptor.digest] == "linux/arm64/v8"
    assert len(set(platforms.values())) == 9


def test_verify_on_registry(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image = f"docker://{registry.host}/{repo}:{SOURCE_TAG}"
    publish_converted(image, converted.target, hosts=hosts)

    result = obd("verify", image, "--plain-http")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read " in next(line for line in result.stdout.splitlines() if ".format" in line)
    listing = obd("referrers", image, "--plain-http", "--json")
    assert len(json.loads(listing.stdout)[0]["referrers"]) == 1
    unreachable = obd("verify", image)  # HTTPS against a plain-HTTP registry
    assert unreachable.returncode == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_broken_docker_config_does_not_stop_anonymous_access(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text('{not json, "credsStore": "obd-nonexistent"}')
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    listing = obd("referrers", f"docker://{registry.host}/{repo}:{SOURCE_TAG}", "--plain-http")
    assert listing.returncode == 0 and listing.stderr == "", listing.stderr
    assert listing.stdout.endswith("0 referrer(s)\n")


def test_convert_referrer_rerun_repairs_a_deleted_manifest(
    registry: RegistryServer, client: RegistryClient, repo: str, converted: Converted
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image = f"docker://{registry.host}/{repo}:{SOURCE_TAG}"
    command = ("convert", image, "--plain-http", "--referrer", "-q", "--existing", "replace")
    first = obd(*command)
    assert first.returncode == 0, first.stderr
    referrer = first.stdout.split()[3]
    assert first.stdout.startswith(f"referrer pushed linux/amd64: {referrer} ")

    client.delete_manifest(repo, referrer)
    again = obd(*command)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"referrer repaired linux/amd64: {referrer} ")
    assert f"(tag schema); restored missing {referrer[:19]}\n" in again.stdout
    checked = obd("verify", image, "--plain-http")
    assert checked.returncode == 0, checked.stdout
    assert obd(*command).stdout.startswith(f"referrer exists linux/amd64: {referrer} ")


def test_help_and_attach_after_convert(
    converted: Converted, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("referrers", "verify"):
        shown = obd(command, "--help")
        assert shown.returncode == 0 and "--artifact-type" in shown.stdout, shown.stderr

    (result,) = streaming_cmd.attach_after_convert(converted.report, None, "skip")
    line = capsys.readouterr().out.strip()
    assert line == (
        f"referrer pushed linux/amd64: {result.referrer} -> subject sha256:7e9b6e7ba284 "
        "(index.json)"
    )
    assert converted.report.referrers[0]["action"] == "pushed"
    streaming_cmd.attach_after_convert(converted.report, None, "skip", quiet=True)
    assert capsys.readouterr().out == ""
    assert converted.report.referrers[0]["action"] == "exists"


def test_attach_failure_says_the_target_is_stored_and_how_to_finish(
    registry: RegistryServer,
    repo: str,
    converted: Converted,
    tmp_path: Path,
    docker_transport: RegistryHosts,
) -> None:
    """The tester's case: the source registry dies between the conversion (stored at the
    target) and the attach to the source."""
    with start_plain_registry(tmp_path / "source") as origin:
        with RegistryClient(origin.host, docker_transport.default) as origin_client:
            push_image(origin_client, converted.layout, SOURCE_TAG, "hello")
        source = f"docker://{origin.host}/hello:{SOURCE_TAG}"
        target = f"docker://{registry.host}/{repo}:obd"
        report = convert(source, target)
        origin.stop()

        with pytest.raises(RegistryError) as caught:
            streaming_cmd.attach_after_convert(report, None, "skip", quiet=True)
        message = str(caught.value)
        assert message.startswith(
            f"the converted image is stored at {target}, but attaching it as a referrer of "
            f"{source} failed: "
        )
        assert "failed after 3 attempt(s): connection refused; " in message
        assert message.endswith(
            f"to finish, run the same `obd convert {source} {target} --referrer ...` again "
            "(what is already stored is not pushed again)"
        )

        origin.start()
        (finished,) = streaming_cmd.attach_after_convert(report, None, "skip", quiet=True)
        assert finished.action == "pushed"


def test_without_target_the_hint_names_only_the_source(converted: Converted) -> None:
    report = converted.report
    assert streaming_cmd.attach_failure(report, stored=False) == (
        f"converted, but attaching the result as a referrer of {report.source} failed"
    )
    assert f"`obd convert {report.source} --referrer ...`" in streaming_cmd.how_to_finish(
        report, stored=False
    )
