"""harness/cheader.py: the numbers Python shares with C come from the header itself."""
import pytest

from harness import cheader, log, qemu


def test_the_exit_statuses_are_the_headers():
    codes = cheader.defines("keos/exit_status.h")
    assert log.STATUS_PASS == (codes["QEMU_EXIT_PASS"] << 1) | 1
    assert len({v for k, v in codes.items() if k.startswith("QEMU_EXIT_")}) == len(codes), \
        f"two verdicts share an exit code: {codes}"


def test_the_machine_is_the_headers():
    assert qemu.SMP == cheader.define("keos/machine.h", "MACHINE_CPUS")


@pytest.mark.parametrize("line, value", [
    ("#define A 0x10 /* status 33 */", 16),
    ("#  define A\t42", 42),
    ("#define A (1UL)", 1),
])
def test_integer_defines_are_read(tmp_path, monkeypatch, line, value):
    monkeypatch.setattr(cheader, "ROOT", tmp_path)
    (tmp_path / "h.h").write_text(f"#pragma once\n{line}\n#define B A\n")
    cheader.defines.cache_clear()
    try:
        assert cheader.defines("h.h") == {"A": value}
        with pytest.raises(KeyError, match="h.h has no '#define B <integer>'"):
            cheader.define("h.h", "B")
    finally:
        cheader.defines.cache_clear()
