"""The fault map: what the lazy pager did, page by page, drawn from a run's FAULTMAP lines.

kev/faultlog.c prints, after each guest's vm_run, the guest's loadable segments and every
call of its pager (guest page, vCPU, time, outcome). From them:

    grader/faultmap.py build/run.log              # terminal map of each guest (`make run`)
    grader/faultmap.py --run pager.stress         # run the test first (`make faultmap`)
    grader/faultmap.py LOG --svg OUT.svg          # and the first guest's map as SVG

`qemu.run()` writes `<log>.faultmap.svg` next to every log that has such lines (more
guests in one run: `<log>.faultmap-<vm>.svg` for the second and later ones).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

PAGE = 4096
HOST = None          # the vCPU of a fault the host took (vm_read_gpa, boot information)

LOADED, ZERO, RACED, MAPPED, ERROR = "L", "Z", "R", "M", "E"
OUTCOMES = (LOADED, ZERO, RACED, MAPPED, ERROR)


@dataclass
class Event:
    page: int            # guest-physical page number
    vcpu: object         # int, or HOST
    us: int              # microseconds since the VM was created
    outcome: str         # one of OUTCOMES


@dataclass
class Segment:
    index: int
    paddr: int
    filesz: int
    memsz: int

    @property
    def pages(self):
        """The guest pages the segment covers, rounded out to whole pages."""
        if self.memsz == 0:
            return range(0)
        return range(self.paddr // PAGE, (self.paddr + self.memsz - 1) // PAGE + 1)

    def is_bss(self, page):
        """True if no byte of this page comes from the file (all zero, bss)."""
        return page * PAGE >= self.paddr + self.filesz


@dataclass
class FaultMap:
    vm: int
    image: str
    vcpus: int
    dropped: int
    declared: int                      # the event count the kernel announced
    segments: list = field(default_factory=list)
    events: list = field(default_factory=list)
    complete: bool = False             # the end line was seen

    # ---- what the numbers say ----

    def image_pages(self):
        return sorted({p for s in self.segments for p in s.pages})

    def loads(self):
        """{page: number of times it was loaded} over image pages."""
        image = set(self.image_pages())
        counts = {}
        for e in self.events:
            if e.outcome == LOADED and e.page in image:
                counts[e.page] = counts.get(e.page, 0) + 1
        return counts

    def raced_pages(self):
        return {e.page for e in self.events if e.outcome == RACED}

    def zero_pages(self):
        """Pages outside the image handed out zeroed."""
        image = set(self.image_pages())
        return sorted({e.page for e in self.events if e.outcome == ZERO and e.page not in image})

    def summary(self):
        loads = self.loads()
        twice = sum(1 for n in loads.values() if n > 1)
        races = sum(1 for e in self.events if e.outcome == RACED)
        errors = sum(1 for e in self.events if e.outcome == ERROR)
        text = (f"{len(loads)} of {len(self.image_pages())} image pages loaded; "
                f"{twice} read twice; {_n(len(self.zero_pages()), 'zero page')} outside the "
                f"image; {_n(races, 'concurrent arrival')}")
        if errors:
            text += f"; {errors} pager errors"
        if self.dropped:
            text += f"; {self.dropped} events dropped (ring full)"
        if not self.complete:
            text += "; the log ends before the map does"
        return text


def _n(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else "s")


# ---------------------------------------------------------------------------------------
# Parsing

_BEGIN = re.compile(r"FAULTMAP begin vm=(\d+) image=(\S+) vcpus=(\d+) events=(\d+) "
                    r"dropped=(\d+)")
_SEG = re.compile(r"FAULTMAP seg (\d+) paddr=([0-9a-f]+) filesz=([0-9a-f]+) memsz=([0-9a-f]+)")
# <page hex><outcome><vcpu: one hex digit, or h for the host><µs since the previous event, hex>
_EVENT = re.compile(r"([0-9a-f]+)([LZRME])([0-9a-f]|h)([0-9a-f]+)")


def parse(text):
    """Every fault map in a serial log, in order. Lines that do not parse are ignored
    (the console may interleave other output), never an exception."""
    maps, current = [], None
    for line in text.splitlines():
        at = line.find("FAULTMAP ")
        if at < 0:
            continue
        line = line[at:].strip()
        if m := _BEGIN.fullmatch(line):
            vm, image, vcpus, declared, dropped = m.groups()
            current = FaultMap(int(vm), image, int(vcpus), int(dropped), int(declared))
            maps.append(current)
        elif current is None:
            continue
        elif m := _SEG.fullmatch(line):
            current.segments.append(Segment(int(m[1]), int(m[2], 16), int(m[3], 16),
                                            int(m[4], 16)))
        elif line.startswith("FAULTMAP ev "):
            for word in line.split()[2:]:
                if m := _EVENT.fullmatch(word):
                    vcpu = HOST if m[3] == "h" else int(m[3], 16)
                    us = (current.events[-1].us if current.events else 0) + int(m[4], 16)
                    current.events.append(Event(int(m[1], 16), vcpu, us, m[2]))
        elif line.startswith("FAULTMAP end "):
            current.complete = True
            current = None
    return maps


# ---------------------------------------------------------------------------------------
# The terminal map: one row per segment, one character per page

CHARS = {"loaded": "#", "bss": "z", "raced": "!", "twice": "2", "untouched": "."}
KEY = ("# loaded from the file   z zero (bss) page   ! loaded while another vCPU also "
       "faulted on it   2 read twice   . never touched")
ROW = 64
RUN_TIMEOUT_S = 120  # make faultmap: pager.stress takes up to a minute on a loaded machine


def page_char(fm, seg, page, loads, raced):
    n = loads.get(page, 0)
    if n > 1:
        return CHARS["twice"]
    if n == 0:
        return CHARS["untouched"]
    if page in raced:
        return CHARS["raced"]
    return CHARS["bss"] if seg.is_bss(page) else CHARS["loaded"]


def terminal(fm):
    loads, raced = fm.loads(), fm.raced_pages()
    vcpus = "1 vCPU" if fm.vcpus == 1 else f"{fm.vcpus} vCPUs"
    out = [f"Fault map of {fm.image} (vm {fm.vm}, {vcpus}, {len(fm.events)} faults):"]
    for seg in fm.segments:
        pages = seg.pages
        chars = "".join(page_char(fm, seg, p, loads, raced) for p in pages)
        head = f"  seg {seg.index} {seg.paddr:#9x} {len(pages):4} pages "
        for i in range(0, max(len(chars), 1), ROW):
            out.append((head if i == 0 else " " * len(head)) + chars[i:i + ROW])
    out.append("  " + KEY)
    out.append("  " + fm.summary())
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# The SVG: guest page (y) against fault order (x), one dot per pager call

VCPU_COLORS = ("#1f77b4", "#e6550d", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
               "#17becf", "#bcbd22")
HOST_COLOR = "#7f7f7f"
RACE_COLOR = "#d62728"
PLOT_W, PLOT_H = 760, 560
LEFT, TOP, RIGHT, BOTTOM = 330, 78, 20, 46
LABEL_H = 15         # pixels between two segment labels
GAP = 10             # pixels between bands of non-adjacent pages


def vcpu_color(vcpu):
    return HOST_COLOR if vcpu is HOST else VCPU_COLORS[vcpu % len(VCPU_COLORS)]


def _bands(fm):
    """Runs of consecutive rows: image pages (contiguous runs), then the zero pages outside
    the image (one band, in page order). Returns ([(label, first_row, pages)], row_of)."""
    rows, bands, row_of = 0, [], {}
    image = fm.image_pages()
    run = []
    for p in image + [None]:
        if run and (p is None or p != run[-1] + 1):
            bands.append(("image", rows, run))
            for i, q in enumerate(run):
                row_of[q] = rows + i
            rows += len(run)
            run = []
        if p is not None:
            run.append(p)
    others = sorted({e.page for e in fm.events} - set(image))
    if others:
        bands.append(("outside", rows, others))
        for i, q in enumerate(others):
            row_of[q] = rows + i
    return bands, row_of


def svg(fm):
    bands, row_of = _bands(fm)
    nrows = sum(len(pages) for _, _, pages in bands)
    row_h = max(0.6, min(6.0, (PLOT_H - GAP * max(len(bands) - 1, 0)) / max(nrows, 1)))
    band_top, y = [], TOP
    for kind, first, pages in bands:
        band_top.append(y)
        y += len(pages) * row_h + GAP
    height = int(y - GAP + BOTTOM)
    width = LEFT + PLOT_W + RIGHT
    col_w = PLOT_W / max(len(fm.events), 1)

    def row_y(page):
        for top, (kind, first, pages) in zip(band_top, bands):
            if first <= row_of[page] < first + len(pages):
                return top + (row_of[page] - first) * row_h
        raise KeyError(page)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12" xml:space="preserve">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    out += _title(fm)
    labels = []          # (y wanted, text): placed after the bands, without overlapping
    loads = fm.loads()
    for top, (kind, first, pages) in zip(band_top, bands):
        h = len(pages) * row_h
        out.append(f'<rect x="{LEFT}" y="{top:.1f}" width="{PLOT_W}" height="{h:.1f}" '
                   f'fill="#f4f4f4" stroke="#bbb"/>')
        if kind == "outside":
            labels.append((top + h / 2, f"RAM outside the image: {_n(len(pages), 'zero page')}"))
            continue
        in_band = set(pages)
        for seg in fm.segments:
            segpages = [p for p in seg.pages if p in in_band]
            if not segpages:
                continue
            y0, y1 = row_y(segpages[0]), row_y(segpages[-1]) + row_h
            bss = [p for p in segpages if seg.is_bss(p)]
            if bss:
                b0 = row_y(bss[0])
                out.append(f'<rect x="{LEFT}" y="{b0:.1f}" width="{PLOT_W}" '
                           f'height="{y1 - b0:.1f}" fill="#fff3c4"/>')
                out.append(f'<text x="{LEFT + PLOT_W - 4}" y="{(b0 + y1) / 2 + 4:.1f}" '
                           f'text-anchor="end" fill="#a07800">segment {seg.index}: bss, '
                           f'{_n(len(bss), "page")} that start zero</text>')
            loaded = sum(1 for p in segpages if p in loads)
            if loaded == 0 and y1 - y0 > 20:
                out.append(f'<text x="{LEFT + PLOT_W / 2}" y="{(y0 + y1) / 2 + 4:.1f}" '
                           f'text-anchor="middle" fill="#888" font-size="14">never touched, '
                           f'never read: {_n(len(segpages), "page")}</text>')
            out.append(f'<line x1="{LEFT - 6}" y1="{y0:.1f}" x2="{LEFT - 6}" y2="{y1:.1f}" '
                       f'stroke="#333" stroke-width="2"/>')
            labels.append(((y0 + y1) / 2, f"segment {seg.index} at {seg.paddr:#x}: "
                                          f"{loaded} of {_n(len(segpages), 'page')} loaded"))
    out += _labels(labels)
    out += _marks(fm, row_of, row_y, row_h, col_w)
    base = height - BOTTOM + 16
    if fm.events:
        out.append(f'<text x="{LEFT}" y="{base}">first fault{_at(fm.events[0])}</text>')
        out.append(f'<text x="{LEFT + PLOT_W}" y="{base}" text-anchor="end">fault number '
                   f'{len(fm.events)}{_at(fm.events[-1])}</text>')
    out.append(f'<text x="{LEFT + PLOT_W / 2}" y="{base + 18}" text-anchor="middle">'
               f'faults in the order the pager handled them →     '
               f'guest-physical page ↓ (low addresses at the top)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(fm):
    vcpus = "1 vCPU" if fm.vcpus == 1 else f"{fm.vcpus} vCPUs"
    out = [f'<text x="10" y="20" font-size="16" font-weight="bold">How the lazy pager '
           f'loaded {escape(fm.image)} (vm {fm.vm}, {vcpus})</text>',
           f'<text x="10" y="40">{escape(fm.summary())}</text>']
    # The colour key is a sentence: each vCPU's name in its own colour.
    key = ['<tspan>One dot per fault, in the colour of the vCPU that took it: </tspan>']
    names = [(vcpu_color(v), f"vCPU{v}") for v in range(fm.vcpus)]
    if any(e.vcpu is HOST for e in fm.events):
        names.append((HOST_COLOR, "the host"))
    key += [f'<tspan fill="{c}" font-weight="bold">{n}  </tspan>' for c, n in names]
    if fm.raced_pages():
        key.append(f'<tspan fill="{RACE_COLOR}" font-weight="bold">  red ring: page already mapped by '
                   f'another vCPU (a race)</tspan>')
    out.append(f'<text x="10" y="60">{"".join(key)}</text>')
    return out


def _labels(labels):
    """Segment labels right-aligned left of the plot, pushed down so none overlap."""
    out, last = [], -LABEL_H
    for y, text in sorted(labels):
        y = max(y, last + LABEL_H)
        last = y
        out.append(f'<text x="{LEFT - 12}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(text)}</text>')
    return out


def _marks(fm, row_of, row_y, row_h, col_w):
    """Red rings under the dots, so the vCPU colour stays visible."""
    rings, dots = [], []
    r = max(1.6, min(3.0, row_h / 2 + 1))
    for i, e in enumerate(fm.events):
        if e.page not in row_of:
            continue
        x, y = LEFT + (i + 0.5) * col_w, row_y(e.page) + row_h / 2
        if e.outcome == RACED:
            rings.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r + 2.5:.1f}" fill="none" '
                         f'stroke="{RACE_COLOR}" stroke-width="0.8"/>')
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" '
                    f'fill="{vcpu_color(e.vcpu)}"/>')
        if e.outcome == ERROR:
            dots.append(f'<text x="{x:.1f}" y="{y - 4:.1f}" fill="{RACE_COLOR}" '
                        f'font-weight="bold" text-anchor="middle">error</text>')
    return rings + dots


def _at(event):
    return f" ({event.us / 1000:.1f} ms)"


# ---------------------------------------------------------------------------------------
# Files next to a log

def svg_paths(log_path, maps):
    """Where each map's SVG goes: <log>.faultmap.svg, then <log>.faultmap-<vm>.svg."""
    log_path = Path(log_path)
    return [log_path.with_name(log_path.name + (".faultmap.svg" if i == 0 else
                                                f".faultmap-{fm.vm}.svg"))
            for i, fm in enumerate(maps)]


def write_svgs(text, log_path):
    """Write the SVG of every fault map in `text` next to `log_path` (removing those of an
    earlier run of the same log); the paths written."""
    log_path = Path(log_path)
    for old in log_path.parent.glob(glob.escape(log_path.name) + ".faultmap*.svg"):
        old.unlink()
    maps = parse(text)
    paths = svg_paths(log_path, maps)
    for fm, path in zip(maps, paths):
        path.write_text(svg(fm))
    return paths


def run_test(test, image):
    """`make faultmap`: run one test, keep its log under build/logs/faultmap/. The log path."""
    from . import qemu
    log = qemu.LOG_DIR / "faultmap" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', test)}.log"
    scale = float(os.environ.get("KEOS_TIMEOUT_SCALE", "1"))
    result = qemu.run(test, timeout=RUN_TIMEOUT_S * scale, image=Path(image or qemu.IMAGE),
                      log_path=log)
    print(f"{test}: {result.verdict.name} in {result.wall_s:.2f} s (log: {log})")
    return log


def show(path):
    """Open an SVG in the desktop's viewer if there is a desktop; say where it is anyway."""
    print(f"SVG: {path}")
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and \
            shutil.which("xdg-open"):
        subprocess.Popen(["xdg-open", str(path)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="grader/faultmap.py",
                                 description="Print the fault maps of a KeOS serial log.")
    ap.add_argument("log", nargs="?", help="a serial log (build/logs/...log)")
    ap.add_argument("--run", metavar="TEST", help="first run TEST in QEMU (make faultmap)")
    ap.add_argument("--image", help="with --run: the kernel (default: the build's)")
    ap.add_argument("--svg", help="also write the first guest's map as SVG here")
    ap.add_argument("--quiet-if-none", action="store_true",
                    help="print nothing when the log has no fault map")
    args = ap.parse_args(argv)
    if bool(args.log) == bool(args.run):
        ap.error("give a log file, or --run TEST")
    if args.run:
        try:
            args.log = run_test(args.run, args.image)
        except Exception as e:           # QEMU missing, selection too long: say it
            print(f"faultmap: cannot run {args.run}: {e}", file=sys.stderr)
            return 2
    try:
        text = Path(args.log).read_text(errors="replace")
    except OSError as e:
        print(f"faultmap: cannot read {args.log}: {e.strerror}", file=sys.stderr)
        return 2
    maps = parse(text)
    if not maps:
        if args.quiet_if_none:
            return 0
        print(f"faultmap: no FAULTMAP lines in {args.log} (only the pager tests that boot "
              f"a guest print them)", file=sys.stderr)
        return 1
    print("\n\n".join(terminal(fm) for fm in maps))
    if args.svg:
        Path(args.svg).write_text(svg(maps[0]))
        print(f"SVG: {args.svg}")
    elif args.run:
        for path in svg_paths(args.log, maps)[:1]:
            show(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
