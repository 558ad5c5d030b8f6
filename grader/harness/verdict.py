"""The verdict channel: what the kernel's test runner writes on QEMU's debug console.

keos/test.c writes each verdict line as "<seq> <mac> <text>" on I/O port 0xe9 (QEMU's
isa-debugcon), not on the console (COM1) that printk, panics and guests share. The MAC
is SipHash-2-4 of "<seq> <text>", keyed with the run's secret, which the harness makes
up for each run and hands to the kernel through fw_cfg (FW_CFG_SECRET); the runner
takes it before kev or any test code runs. So a line that student code printed on COM1,
or even wrote to port 0xe9, does not verify, and a line taken from another run's log
does not verify either (another secret).

    secret = new_secret()
    lines, problems = verify(channel_text, secret)    # texts in order; what was wrong
"""

import re
import secrets

FW_CFG_SECRET = "opt/keos/secret"
SECRET_BYTES = 16               # keos/siphash.h SIPHASH_KEY_SIZE; sent as 32 hex digits

# A line on the console that looks like the runner's verdict lines: it never counts,
# and it is reported as a forgery (keos/test.c writes "[test] ..." there instead).
# The grammar is the one the parser once read from the console, so an innocent debug
# line ("EXIT reason 0x400") is not taken for one.
VERDICT_LIKE = re.compile(r"\s*(TEST-(START|PASS|FAIL|SKIP) \S|TESTS-DONE passed=|"
                          r"METRIC \S+ [^=\s]+=|EXIT \d+\s*$)")

_LINE = re.compile(r"(\d+) ([0-9a-f]{16}) (.*)")
_MASK = (1 << 64) - 1


def new_secret():
    return secrets.token_hex(SECRET_BYTES)


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & _MASK


def _rounds(v, n):
    for _ in range(n):
        v[0] = (v[0] + v[1]) & _MASK
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)


def siphash24(key, data):
    """SipHash-2-4 of bytes `data` under the 16-byte `key` (keos/siphash.c)."""
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]
    whole = len(data) & ~7
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, whole, 8)]
    words.append(((len(data) & 0xff) << 56) | int.from_bytes(data[whole:], "little"))
    for m in words:
        v[3] ^= m
        _rounds(v, 2)
        v[0] ^= m
    v[2] ^= 0xff
    _rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def mac(secret, seq, text):
    """The 16 hex digits the runner writes for line number `seq` saying `text`."""
    return f"{siphash24(bytes.fromhex(secret), f'{seq} {text}'.encode()):016x}"


def sign(secret, texts):
    """Channel text as the runner would write it (for tests and fakes)."""
    return "".join(f"{i} {mac(secret, i, t)} {t}\n" for i, t in enumerate(texts))


def verify(channel, secret):
    """([texts of the lines that verify, in order], [problems]). Every line must carry
    the next sequence number and a MAC made with `secret`; the first one that does not
    is a problem and ends the trusted part (what follows it cannot be trusted either)."""
    lines, problems = [], []
    if secret is None:
        return lines, ["no secret was handed to the kernel: nothing can be verified"]
    for raw in channel.splitlines():
        line = raw.rstrip("\r")
        m = _LINE.fullmatch(line)
        if not m:
            problems.append(f"malformed verdict-channel line {line[:80]!r}")
            break
        seq, tag, text = int(m.group(1)), m.group(2), m.group(3)
        if seq != len(lines):
            problems.append(f"verdict-channel line {seq} where {len(lines)} was due: "
                            f"{text[:80]!r}")
            break
        if tag != mac(secret, seq, text):
            problems.append(f"verdict-channel line {seq} fails its MAC: {text[:80]!r}")
            break
        lines.append(text)
    if channel and not channel.endswith("\n") and not problems:
        problems.append("the verdict channel ends in the middle of a line")
    return lines, problems
