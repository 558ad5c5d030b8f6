"""Host tests of kev/insn.c, the decoder for instructions that fault on MMIO pages.

The decoder's own tables are never the oracle. Two independent ones are used:

- GNU as. Every test instruction is a line of AT&T assembly. All of them are assembled
  in one `as --64` run; each instruction's bytes come from `objcopy -O binary`, and its
  length is computed by the assembler itself (a `.byte end - start` in a side section).
  The expected fields (access size, load or store, register, immediate, extension) are
  parsed from the assembly text: size suffix, register name, operand order.
- The host CPU. grader/host/insn_driver runs each instruction natively with random
  registers and memory and checks that insn_store_value / insn_load_result predict
  exactly what the CPU did (sizes, AH..BH, movzx/movsx, 32-bit writes clearing the top).

Both oracles are x86-64 programs (the driver runs instructions on the CPU it runs on, and
`as --64` is the x86-64 GNU assembler): on other hosts the module is skipped, with the reason.

Run: /usr/bin/python3 -m pytest grader/test_insn.py
"""

import functools
import platform
import re
import subprocess
from dataclasses import dataclass

import pytest

from harness.paths import ROOT
from harness.plugin import make_locked

DRIVER = ROOT / "build" / "host" / "insn_driver"

if platform.machine().lower() not in ("x86_64", "amd64"):
    pytest.skip(f"the decoder's oracles run x86-64 code natively; this host is "
                f"{platform.machine()}", allow_module_level=True)

MAX_LEN = 15
SCRATCH = 0x30000000        # the driver's scratch buffer (fixed address, 8 KiB)
TARGET = SCRATCH + 0x1000   # where exec tests make memory operands point
MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------- registers and AT&T syntax

GPR = {
    8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)],
    4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + [f"r{i}d" for i in range(8, 16)],
    2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + [f"r{i}w" for i in range(8, 16)],
    1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [f"r{i}b" for i in range(8, 16)],
}
HIGH8 = ["ah", "ch", "dh", "bh"]
SUFFIX = {"b": 1, "w": 2, "l": 4, "q": 8}

REGS = {}  # name -> (number, size in bytes, is AH..BH)
for _size, _names in GPR.items():
    for _num, _name in enumerate(_names):
        REGS[_name] = (_num, _size, False)
for _num, _name in enumerate(HIGH8):
    REGS[_name] = (_num, 1, True)

# Instruction prefixes written as words in gas syntax; they do not change the fields.
PREFIX_WORDS = {"ds", "es", "ss", "cs", "fs", "gs", "addr32"}


def sext(value, size):
    """Sign-extend the low `size` bytes of value to 64 bits (as an unsigned Python int)."""
    bits = 8 * size
    value &= (1 << bits) - 1
    if value >> (bits - 1):
        value -= 1 << bits
    return value & MASK64


def split_operands(text):
    """Split 'a, b(c,d)' at commas outside parentheses."""
    ops, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            ops.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    ops.append(cur.strip())
    return [op for op in ops if op]


def is_reg(op):
    return op.startswith("%") and op[1:] in REGS


def reg(op):
    """(number, size, high) of a '%reg' operand."""
    assert op.startswith("%") and op[1:] in REGS, f"not a general register: {op}"
    return REGS[op[1:]]


@dataclass(frozen=True)
class Fields:
    """What the decoder must report, in the driver's output format."""
    size: int
    write: bool
    imm_src: bool = False
    imm: int = 0
    reg: int = 0
    high: bool = False
    ext: str = "none"
    dst: int = 0

    def line(self, length):
        return (f"ok len={length} size={self.size} write={int(self.write)} "
                f"imm_src={int(self.imm_src)} imm={self.imm:#x} reg={self.reg} "
                f"high={int(self.high)} ext={self.ext} dst={self.dst}")


def parse_asm(text):
    """Return (mnemonic, [operands]) with pseudo-prefixes and prefix words removed."""
    words = text.split()
    while words and (words[0].startswith("{") or words[0] in PREFIX_WORDS):
        words.pop(0)
    return words[0], [op.replace(" ", "") for op in split_operands(" ".join(words[1:]))]


def expected_fields(text):
    """The decoder's expected output for one AT&T MOV line, from the text alone."""
    mnemonic, ops = parse_asm(text)
    assert len(ops) == 2, f"expected two operands: {text}"
    src, dst = ops

    movx = re.fullmatch(r"mov([zs])([bw])([wlq])", mnemonic)
    if movx:
        num, size, high = reg(dst)
        assert size == SUFFIX[movx.group(3)] and not high, text
        return Fields(size=SUFFIX[movx.group(2)], write=False, reg=num,
                      ext="zero" if movx.group(1) == "z" else "sign", dst=size)

    if mnemonic in ("movslq", "movsxd"):
        # movsxd into a 64-bit register sign-extends a dword; into 32/16 bits it is a mov.
        num, size, _ = reg(dst)
        if size == 8:
            return Fields(size=4, write=False, reg=num, ext="sign", dst=8)
        return Fields(size=size, write=False, reg=num, dst=size)

    plain = re.fullmatch(r"mov(?:abs)?([bwlq]?)", mnemonic)
    assert plain, f"test bug: cannot parse mnemonic of {text}"
    suffix_size = SUFFIX.get(plain.group(1))
    if is_reg(dst):                                 # load: memory -> register
        num, size, high = reg(dst)
        assert suffix_size in (None, size), text
        return Fields(size=size, write=False, reg=num, high=high, dst=size)
    if src.startswith("$"):                         # store of an immediate
        assert suffix_size, f"immediate store needs a size suffix: {text}"
        # The CPU sign-extends imm8/16/32 (imm32 also for 64-bit stores).
        imm = sext(int(src[1:], 0), min(suffix_size, 4))
        return Fields(size=suffix_size, write=True, imm_src=True, imm=imm)
    num, size, high = reg(src)                      # store of a register
    assert suffix_size in (None, size), text
    return Fields(size=size, write=True, reg=num, high=high)


MEM_RE = re.compile(r"(?:%[a-z]s:)?(?P<disp>-?(?:0x[0-9a-f]+|\d+))?"
                    r"(?:\((?P<base>%\w+)?(?:,(?P<index>%\w+)(?:,(?P<scale>\d))?)?\))?")


def exec_pins(text):
    """(ea, {reg: value}) that make the memory operand of `text` address TARGET
    (or its absolute address), or None when the operand cannot be aimed at the
    scratch buffer (RIP-relative, FS/GS, a register used as base and index)."""
    _, ops = parse_asm(text)
    mem = [op for op in ops if not is_reg(op) and not op.startswith("$")]
    assert len(mem) == 1, f"no single memory operand in {text}"
    mem = mem[0]
    if mem.startswith(("%fs:", "%gs:")) or "ip)" in mem:
        return None
    m = MEM_RE.fullmatch(mem)
    assert m, f"test bug: cannot parse memory operand {mem}"
    disp = int(m.group("disp") or "0", 0)
    base = m.group("base")
    index = m.group("index") if m.group("index") not in ("%riz", "%eiz") else None
    scale = int(m.group("scale") or "1")
    base_num = reg(base)[0] if base else None
    index_num = reg(index)[0] if index else None
    if base is None and index is None:
        ea = disp
        return (ea, {}) if SCRATCH <= ea <= SCRATCH + 0x2000 - 8 else None
    if base_num is not None and base_num == index_num:
        return None
    if base is None:
        if (TARGET - disp) % scale:
            return None
        return TARGET, {index_num: (TARGET - disp) // scale}
    pins = {}
    index_value = 0
    if index_num is not None:
        index_value = 0x18
        pins[index_num] = index_value
    pins[base_num] = TARGET - disp - index_value * scale
    return TARGET, pins


# ---------------------------------------------------------------- the test instructions

ADDRESSING = (
    [f"(%{r})" for r in GPR[8]]                      # rsp/r12 need a SIB, rbp/r13 a disp8
    + ["0x7f(%rcx)", "-0x80(%rdx)", "0x80(%rsi)", "-0x1000(%r11)", "0x12345(%r12)",
       "0x10(%r13)", "8(%rsp)", "0x400(%rsp)",
       "(%rax,%rcx)", "(%rbx,%rdx,2)", "0x10(%rsi,%rdi,4)", "-0x10(%r8,%r9,8)",
       "0x1000(%r12,%r13,1)", "(%r13,%r14,2)", "(%rbp,%rax,4)", "(%rsp,%r15,8)",
       "(%rax,%rax,2)", "0x10(,%rbx,8)", "(,%r10,2)", "-0x30(,%r12,4)",
       "(%rbx,%riz,4)", f"{TARGET:#x}",
       "0x10(%rip)", "-0x100(%rip)", "0x10(%eip)",
       "%fs:0x28", "%gs:(%rax)", "%es:(%rdi)", "%ss:0x10(%rbp)",
       "(%eax)", "0x10(%ebx,%ecx,4)", "(%r8d)", "-0x8(%r13d,%r14d,2)"]
)

MOVX = ["movzbw", "movzbl", "movzbq", "movzwl", "movzwq",
        "movsbw", "movsbl", "movsbq", "movswl", "movswq"]
SIZE_OF_SUFFIX = {"w": 2, "l": 4, "q": 8}


def valid_cases():
    """(prefix bytes, text): instructions the decoder must accept."""
    cases = []
    # Every register of every size, loaded and stored (REX.R for r8-r15, AH..BH without REX).
    for suffix, size in SUFFIX.items():
        for r in GPR[size] + (HIGH8 if size == 1 else []):
            cases.append(f"mov{suffix} %{r}, 0x10(%rbx)")
            cases.append(f"mov{suffix} -0x20(%rbp), %{r}")
    cases += ["mov %eax, (%rdi)", "mov (%rsi), %r11", "mov %cx, (%r9)", "mov (%rcx), %dh"]
    # Every addressing mode with a few forms (REX.B/X, disp8/32, SIB, imm after disp).
    for mem in ADDRESSING:
        cases += [f"movl %eax, {mem}", f"movq {mem}, %r9", f"movb %sil, {mem}",
                  f"movw $0x1234, {mem}", f"movzbl {mem}, %r10d", f"movb {mem}, %bl",
                  f"movq $-0x80000000, {mem}"]
    # AH..BH against addressing modes that need no REX.
    for r in HIGH8:
        cases += [f"movb %{r}, (%rsp)", f"movb 0x12345678(%rcx,%rdx,8), %{r}"]
    # Immediates: sign extension and size.
    cases += ["movb $0x80, (%rbx)", "movb $-1, (%rbx)", "movb $0x7f, (%r15)",
              "movw $0x8000, (%rbx)", "movw $-2, 0x10(%rbx)", "movw $0x7fff, (%r14)",
              "movl $0xdeadbeef, (%rbx)", "movl $1, (%rbx)", "movl $0x7fffffff, (%r8)",
              "movq $-5, (%rbx)", "movq $0x7fffffff, (%rbx)", "movq $-0x80000000, (%r12)",
              "movq $0x12345678, 0x30001000"]
    # movzx/movsx into every destination register of the right size.
    for m in MOVX:
        for i, r in enumerate(GPR[SIZE_OF_SUFFIX[m[-1]]]):
            src = "(%rbx)" if i % 2 else "0x10(%r9,%rax,2)"
            cases.append(f"{m} {src}, %{r}")
    # movsxd.
    cases += ["movslq (%rbx), %rax", "movslq 0x10(%rbx), %r12", "movslq (%r8), %rsp",
              "movsxd (%rbx), %eax", "movsxd (%rbx), %r9d", "movsxd (%rbx), %ax",
              "movsxd -0x8(%rbp), %r10w"]
    # moffs forms (A0-A3): 8-byte address, or 4 bytes with 0x67.
    cases += [f"movabsb {TARGET:#x}, %al", f"movabsw {TARGET:#x}, %ax",
              f"movabsl {TARGET:#x}, %eax", f"movabsq {TARGET:#x}, %rax",
              f"movabsb %al, {TARGET:#x}", f"movabsw %ax, {TARGET:#x}",
              f"movabsl %eax, {TARGET:#x}", f"movabsq %rax, {TARGET:#x}",
              "movabs %al, 0x123456789", f"addr32 movabs {TARGET:#x}, %eax",
              f"addr32 movabs %ax, {TARGET:#x}"]
    # Prefixes that do not change the fields.
    cases += ["ds movl %eax, (%rbx)", "cs movq (%rbx), %r8", "{rex} movb %al, (%rbx)",
              "{rex} movb (%rbx), %cl", "{rex} movl %eax, (%rbx)",
              "{disp32} movl %eax, 0x10(%rbx)", "{disp32} movb %ah, (%rbx)"]
    out = [(b"", c) for c in cases]
    # Hand-placed prefixes with known architectural effect, before assembled instructions:
    # a REX that does not immediately precede the opcode is ignored; the last REX wins;
    # repeated 0x66 / segment prefixes are harmless.
    out += [(b"\x48", "movw %ax, (%rbx)"), (b"\x4c", "ds movl %eax, (%rbx)"),
            (b"\x4f", "{rex} movb %al, (%rbx)"), (b"\x66", "movw %dx, (%rbx)"),
            (b"\x2e\x3e", "movq 0x10(%rbx), %rax")]
    return out


LONGEST = "movq $-0x80000000, 0x12345678(%rax,%rbx,4)"   # 12 bytes

REJECTED = [
    ("addl %eax, (%rbx)", "unsupported"),
    ("addb $1, (%rbx)", "unsupported"),
    ("incl (%rbx)", "unsupported"),
    ("testl %eax, (%rbx)", "unsupported"),
    ("xchgl %eax, (%rbx)", "unsupported"),
    ("pushq (%rbx)", "unsupported"),
    ("leaq 0x10(%rbx), %rax", "unsupported"),
    ("movw %ds, (%rbx)", "unsupported"),
    ("movw (%rbx), %ds", "unsupported"),
    ("movnti %eax, (%rbx)", "unsupported"),
    ("movbe (%rbx), %eax", "unsupported"),
    ("cmpxchgl %ecx, (%rbx)", "unsupported"),
    ("btl $1, (%rbx)", "unsupported"),
    ("movdqa (%rbx), %xmm0", "unsupported"),
    ("vmovdqa (%rbx), %ymm0", "unsupported"),
    ("movq %cr0, %rax", "unsupported"),
    ("movsb", "unsupported"),
    ("movb $1, %al", "unsupported"),
    ("movl $1, %r9d", "unsupported"),
    ("xabort $1", "unsupported"),
    ("lock incl (%rbx)", "LOCK"),
    ("lock addl $1, (%rbx)", "LOCK"),
    ("lock cmpxchgq %rcx, (%rbx)", "LOCK"),
    ("rep movsb", "REP"),
    ("rep stosl", "REP"),
    ("repne scasb", "REP"),
    ("xrelease movl %eax, (%rbx)", "REP"),
    ("movl %eax, %ebx", "register"),
    ("movq %r8, %r9", "register"),
    ("movb %al, %ah", "register"),
    ("movzbl %al, %eax", "register"),
    ("movswq %r8w, %r9", "register"),
    ("movslq %eax, %rax", "register"),
]


# ---------------------------------------------------------------- assembling and the driver


def assemble(texts, workdir):
    """Bytes of each line, from one run of `as --64`; lengths are the assembler's."""
    src = [".allow_index_reg", ".text"]
    for text in texts:
        src += ["0:", f"\t{text}", "1:", "\t.pushsection .lens, \"a\"",
                "\t.byte 1b - 0b", "\t.popsection"]
    (workdir / "t.s").write_text("\n".join(src) + "\n")
    r = subprocess.run(["as", "--64", "-o", "t.o", "t.s"], cwd=workdir,
                       capture_output=True, text=True)
    assert r.returncode == 0, f"as failed:\n{r.stderr}"
    for section, out in ((".text", "text.bin"), (".lens", "lens.bin")):
        r = subprocess.run(["objcopy", "-O", "binary", "-j", section, "t.o", out],
                           cwd=workdir, capture_output=True, text=True)
        assert r.returncode == 0, f"objcopy failed:\n{r.stderr}"
    text, lens = (workdir / "text.bin").read_bytes(), (workdir / "lens.bin").read_bytes()
    assert len(lens) == len(texts) and sum(lens) == len(text), "as output does not line up"
    out, pos = {}, 0
    for line, n in zip(texts, lens):
        out[line] = text[pos:pos + n]
        pos += n
    return out


@functools.lru_cache(maxsize=None)
def build_driver():
    """Build insn_driver with the Makefile's host rule (HOSTCC, tools/host.mk); return an
    error or None. Cached: pytest re-runs a failing session fixture for every test."""
    made = make_locked("-s", str(DRIVER.relative_to(ROOT)))
    if made.returncode != 0:
        return f"cannot build insn_driver:\n{made.stdout}{made.stderr}"
    return None


@pytest.fixture(scope="session")
def insn_driver():
    """Path of a freshly built insn_driver."""
    error = build_driver()
    assert error is None, error
    return DRIVER


@pytest.fixture(scope="session")
def code(tmp_path_factory):
    """Assembled bytes of every test line (one as run)."""
    texts = sorted({t for _, t in valid_cases()} | {t for t, _ in REJECTED} | {LONGEST})
    return assemble(texts, tmp_path_factory.mktemp("insn_as"))


class Driver:
    """Batches commands: all are sent in one driver run, answers are looked up by command."""

    def __init__(self, path):
        self.path = path
        self.answers = {}

    def run(self, commands):
        todo = [c for c in dict.fromkeys(commands) if c not in self.answers]
        if not todo:
            return
        r = subprocess.run([str(self.path)], input="\n".join(todo) + "\n",
                           capture_output=True, text=True, timeout=60)
        lines = r.stdout.splitlines()
        if r.returncode != 0 or len(lines) != len(todo):
            # Answer the rest with the crash, so each test fails on its own with the reason
            # (a raising session fixture would be re-run by every test).
            crash = (f"driver exited with {r.returncode} after {len(lines)} of {len(todo)} "
                     f"commands; stderr:\n{r.stderr[-3000:]}")
            lines = lines if r.returncode != 0 and len(lines) < len(todo) else []
            lines += [crash] * (len(todo) - len(lines))
        self.answers.update(zip(todo, lines))

    def decode(self, data):
        cmd = f"d {data.hex()}"
        self.run([cmd])
        return self.answers[cmd]

    def execute(self, data, ea, pins):
        cmd = f"x {data.hex()} {ea:x} " + " ".join(f"{r}={v:x}" for r, v in pins.items())
        self.run([cmd.strip()])
        return self.answers[cmd.strip()]


def decode_commands(data):
    cmds = [f"d {data.hex()}", f"d {(data + bytes([0xcc] * MAX_LEN)).hex()}"]
    return cmds + [f"d {data[:k].hex()}" for k in range(len(data))]


@pytest.fixture(scope="session")
def insn(insn_driver, code):
    """A Driver that has already answered every command the tests below will send."""
    d = Driver(insn_driver)
    cmds = []
    for prefix, text in valid_cases():
        cmds += decode_commands(prefix + code[text])
        pins = exec_pins(text)
        if pins:
            ea, regs = pins
            cmds.append((f"x {(prefix + code[text]).hex()} {ea:x} "
                         + " ".join(f"{r}={v:x}" for r, v in regs.items())).strip())
    for text, _ in REJECTED:
        cmds.append(f"d {code[text].hex()}")
    d.run(cmds)
    return d


# ---------------------------------------------------------------- tests

VALID = valid_cases()
VALID_IDS = [(p.hex() + ":" if p else "") + t for p, t in VALID]


@pytest.mark.parametrize("prefix,text", VALID, ids=VALID_IDS)
def test_decode_fields_and_length(insn, code, prefix, text):
    data = prefix + code[text]
    want = expected_fields(text).line(len(data))
    got = insn.decode(data)
    assert got == want, f"{text} [{data.hex()}]:\n got  {got}\n want {want}"
    padded = insn.decode(data + bytes([0xcc] * MAX_LEN))
    assert padded == want, f"{text}: trailing bytes changed the decode: {padded}"


@pytest.mark.parametrize("prefix,text", VALID, ids=VALID_IDS)
def test_truncated_input_is_rejected(insn, code, prefix, text):
    data = prefix + code[text]
    for k in range(len(data)):
        got = insn.decode(data[:k])
        assert got == "err truncated instruction", \
            f"{text}: first {k} of {len(data)} bytes gave {got!r}"


EXEC = [(p, t) for p, t in VALID if exec_pins(t)]


@pytest.mark.parametrize("prefix,text", EXEC, ids=[(p.hex() + ":" if p else "") + t
                                                   for p, t in EXEC])
def test_semantics_match_the_cpu(insn, code, prefix, text):
    ea, pins = exec_pins(text)
    got = insn.execute(prefix + code[text], ea, pins)
    assert got == "exec ok", f"{text}: {got}"


def test_exec_covers_every_form():
    """The CPU oracle must see every opcode family, not just the easy ones."""
    forms = {parse_asm(t)[0] for _, t in EXEC}
    for m in ["movb", "movw", "movl", "movq", "movabsb", "movabsq", "movslq", "movsxd"] + MOVX:
        assert m in forms, f"no exec test for {m}"
    assert any(t.startswith("movb %ah") for _, t in EXEC)
    assert any("$" in t for _, t in EXEC)


@pytest.mark.parametrize("text,why", REJECTED, ids=[t for t, _ in REJECTED])
def test_unsupported_is_rejected(insn, code, text, why):
    got = insn.decode(code[text])
    assert got.startswith("err ") and why in got, f"{text}: got {got!r}, want an error about {why}"


def test_lock_prefix_on_a_mov_is_rejected(insn, code):
    got = insn.decode(b"\xf0" + code["movl %eax, (%rbx)"])
    assert got.startswith("err ") and "LOCK" in got, got


def test_c7_with_nonzero_reg_field_is_rejected(insn, code):
    data = bytearray(code["movl $1, (%rbx)"])
    assert data[0] == 0xc7
    data[1] |= 1 << 3                     # ModRM.reg = 1: not MOV, an undefined C7 /1
    got = insn.decode(bytes(data))
    assert got.startswith("err ") and "unsupported" in got, got


def test_fifteen_byte_limit(insn, code):
    """Pad the longest MOV with segment prefixes to exactly 15 bytes (fine) and 16 (#GP)."""
    base = code[LONGEST]
    fits = b"\x3e" * (MAX_LEN - len(base)) + base
    want = expected_fields(LONGEST).line(MAX_LEN)
    assert insn.decode(fits) == want
    too_long = b"\x3e" + fits
    got = insn.decode(too_long)
    assert got.startswith("err ") and "15" in got, got
    ea, pins = exec_pins(LONGEST)
    assert insn.execute(fits, ea, pins) == "exec ok"


def test_empty_input_is_truncated(insn):
    assert insn.decode(b"") == "err truncated instruction"
