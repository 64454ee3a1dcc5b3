"""``obd zfile`` and ``obd layer`` end to end on real files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import FIXTURES, HELLO_LAYER, REFERENCE


def test_compress_verify_decompress(tmp_path: Path) -> None:
    source = REFERENCE / "inputs" / "odd_3m.bin"
    packed, unpacked = tmp_path / "odd.zfile", tmp_path / "odd.bin"
    obd(
        "zfile",
        "compress",
        str(source),
        str(packed),
        "--algorithm",
        "zstd",
        "--block-size",
        "16384",
    )
    assert "bad blocks  0" in obd("zfile", "verify", str(packed)).stdout
    obd("zfile", "decompress", str(packed), str(unpacked))
    assert unpacked.read_bytes() == source.read_bytes()


def test_verify_reports_a_corrupt_block(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zfile"
    data = bytearray((REFERENCE / "zfile" / "mix_1m.lz4.bs4.crc.zfile").read_bytes())
    data[5000] ^= 1
    damaged.write_bytes(data)
    result = obd("zfile", "verify", str(damaged), check=False)
    assert result.returncode == 1
    assert "blocks fail their CRC" in result.stderr.splitlines()[-1]
    assert "CRC expected" in result.stderr


def test_no_checksum_file_cannot_be_verified() -> None:
    result = obd(
        "zfile", "verify", str(REFERENCE / "zfile" / "mix_1m.lz4.bs4.nocrc.zfile"), check=False
    )
    assert_one_line_error(result, "no per-block CRCs")


def test_failed_decompress_leaves_no_output(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zfile"
    data = bytearray((REFERENCE / "zfile" / "odd_3m.lz4.bs4.crc.zfile").read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(data)
    out = tmp_path / "out.bin"
    assert_one_line_error(
        obd("zfile", "decompress", str(damaged), str(out), check=False), "CRC expected"
    )
    assert list(tmp_path.iterdir()) == [damaged]


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(obd("zfile", "verify", str(tmp_path / "missing"), check=False), "missing")
    text = tmp_path / "text"
    text.write_text("hello\n" * 200)
    assert_one_line_error(
        obd("zfile", "verify", str(text), check=False), "not a ZFile (expected the magic bytes"
    )
    assert_one_line_error(
        obd("layer", "info", str(text), check=False), "expected a ZFile or LSMT magic"
    )
    assert_one_line_error(
        obd(
            "zfile", "compress", str(text), str(tmp_path / "x"), "--block-size", "1000", check=False
        ),
        "found 1000",
    )


def test_layer_info_json() -> None:
    info = json.loads(obd("layer", "info", str(HELLO_LAYER), "--json").stdout)
    assert info["tar"] == {"payload_offset": 1536, "payload_size": 639491, "pax": True}
    assert info["zfile"]["blocks"] == 17463 and info["zfile"]["header_flags"] == "0x1b"
    assert info["lsmt"]["mappings"] == 515
    assert info["lsmt"]["uuid"] == "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"


def test_layer_export_is_sparse_and_readable(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    obd("layer", "export", str(HELLO_LAYER), "--output", str(image))
    assert image.stat().st_size == 64 << 30
    assert image.stat().st_blocks * 512 < 100 << 20
    listing = subprocess.run(
        ["debugfs", "-R", "ls -l /", str(image)], capture_output=True, text=True, check=True
    ).stdout
    assert " hello" in listing and "13256" in listing


def test_every_command_has_help() -> None:
    commands = [
        "zfile compress",
        "zfile decompress",
        "zfile verify",
        "layer info",
        "layer export",
        "convert",
        "export",
        "ls",
        "cat",
        "stat",
    ]
    registry_commands = {"convert", "export", "ls", "cat", "stat", "check", "referrers", "verify"}
    for command in [*commands, "check", "referrers", "verify", "mount"]:
        text = " ".join(obd(*command.split(), "--help").stdout.split())
        assert "Usage: obd " + command in text, command
        assert "Arguments:" in text, command
        if command in registry_commands:
            assert "--plain-http Talk HTTP instead of HTTPS" in text, command


def test_layer_export_checks_the_parent_chain(tmp_path: Path) -> None:
    commits = FIXTURES / "reference" / "lsmt"
    ordered = [str(commits / f"l{i}.commit") for i in range(3)]
    image = tmp_path / "disk.img"
    result = obd("layer", "export", *reversed(ordered), "--output", str(image), check=False)
    assert_one_line_error(result, "names parent", "give the layers bottom first")
    assert not image.exists()
    missing_base = obd("layer", "export", ordered[1], "--output", str(image), check=False)
    assert_one_line_error(missing_base, "layer 0", "but no layer is below it")
    obd("layer", "export", *ordered, "--output", str(image))
    obd("layer", "export", *reversed(ordered), "--output", str(image), "--any-order")


def test_zfile_commands_refuse_to_write_over_their_input(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(b"x" * 10_000)
    result = obd("zfile", "compress", str(raw), str(raw), check=False)
    assert_one_line_error(result, f"{raw}: is the input file {raw}; expected another output")
    assert raw.read_bytes() == b"x" * 10_000
    zfile = tmp_path / "z"
    obd("zfile", "compress", str(raw), str(zfile))
    again = obd("zfile", "decompress", str(zfile), str(zfile), check=False)
    assert_one_line_error(again, "is the input file")
    threads = obd("zfile", "compress", str(raw), str(zfile), "--threads", "0", check=False)
    assert threads.returncode == 2
    assert_one_line_error(threads, "--threads")


def test_zfile_decompress_writes_to_a_device_or_pipe_in_place(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(os.urandom(100_000))
    zfile = tmp_path / "z"
    obd("zfile", "compress", str(raw), str(zfile))
    assert obd("zfile", "decompress", str(zfile), "/dev/null").stdout.startswith("/dev/null: ")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE) as reader:
        obd("zfile", "decompress", str(zfile), str(fifo))
        assert reader.communicate(timeout=60)[0] == raw.read_bytes()
    assert stat.S_ISFIFO(fifo.stat().st_mode) and Path("/dev/null").is_char_device()


def test_zfile_verify_fails_a_file_without_its_trailer(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(300_000))
    zfile = tmp_path / "z"
    obd("zfile", "compress", str(raw), str(zfile))
    cut = tmp_path / "cut"
    cut.write_bytes(zfile.read_bytes()[:-512])
    result = obd("zfile", "verify", str(cut), check=False)
    assert "trailer     bad" in result.stdout
    assert_one_line_error(result, "expected a 512-byte trailer after the jump table")
    assert "trailer     ok" in obd("zfile", "verify", str(zfile)).stdout


def test_zfile_streams_go_where_they_can(tmp_path: Path) -> None:
    """Compress reads standard input; a ZFile is seeked, so it never goes to a pipe, and a
    ZFile is read at any offset, so it never comes from one."""
    raw = os.urandom(50_000) * 4
    zfile = tmp_path / "z"
    piped = subprocess.run(
        [sys.executable, "-m", "overlaybd_cli.entry", "zfile", "compress", "-", str(zfile)],
        input=raw, capture_output=True, check=True,
    )  # fmt: skip
    assert obd("zfile", "decompress", str(zfile), str(tmp_path / "out")).returncode == 0
    assert (tmp_path / "out").read_bytes() == raw, piped.stderr
    dash = obd("zfile", "compress", str(zfile), "-", check=False, cwd=tmp_path)
    assert dash.returncode == 2 and not (tmp_path / "-").exists()
    assert_one_line_error(dash, "a ZFile cannot go to standard output")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for args in (("compress", str(zfile), str(fifo)), ("decompress", str(fifo), "out2")):
        result = obd("zfile", *args, check=False, cwd=tmp_path, timeout=60)
        assert_one_line_error(result, f"{fifo}: is ", "a pipe or a device")
    tarred = obd("zfile", "compress", str(zfile), str(tmp_path / "t"), "--tar").stdout
    assert f"-> {(tmp_path / 't').stat().st_size} bytes" in tarred
