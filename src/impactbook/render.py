"""Execute a report notebook with parameters and export it to ipynb, HTML and PDF.

The pieces are separable so that a batch worker can keep the expensive ones alive:

- :func:`validate_parameters` / :func:`parameterize` check values against the notebook's
  ``parameters`` cell and let papermill inject them;
- :class:`KernelSession` owns one warm kernel (loopback/IPC only, private connection file, no
  SMTP secrets in its environment) and resets it between reports so that output never depends
  on what ran before;
- :class:`ReportExporter` holds the nbconvert exporter (no code, no scripts, images embedded)
  and turns that HTML into a paged PDF with WeasyPrint;
- :func:`render_notebook` ties them together and writes every file atomically.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import datetime as _dt
import json
import math
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import ParameterError, RenderError
from .fsutil import atomic_path

if TYPE_CHECKING:  # nbformat is imported where used, so a batch worker can start its kernel
    from nbformat import NotebookNode  # before it spends a second importing nbformat/jsonschema

FINDINGS_MIME = "application/vnd.impactbook.findings+json"
FORMATS = ("ipynb", "html", "pdf")
PAGE_SIZES = ("A4", "Letter")
DEFAULT_TIMEOUT_S = 600
TEMPLATES_DIR = Path(__file__).parent / "templates"
# Kernel environment variables that must never reach a notebook (and from there a report).
_SECRET_ENV_RE = re.compile(r"^IMPACTBOOK_SMTP_|PASSWORD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
# Cells carrying one of these tags are left out of the HTML/PDF (they stay in the .ipynb).
REMOVE_CELL_TAGS = {"remove_cell", "remove-cell", "hide", "injected-parameters"}
_WIDE_TABLE_COLUMNS = 9


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; reports are meant to be read (served, mailed), so published files
# get the usual permissions under the process umask.
_FILE_MODE = 0o666 & ~_current_umask()


def write_report_file(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with ordinary (umask) permissions."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, _FILE_MODE)


def write_report_files(files: Mapping[Path, bytes], report: str) -> None:
    """Replace one report's files together, or none of them.

    Every file is written and synced to its temporary file before any is renamed into place,
    so a full disk (or any other write error) leaves all the previous files as they were.
    Raises :class:`RenderError` naming the file and the system's reason.
    """
    current: Path | None = None
    try:
        with contextlib.ExitStack() as stack:
            for current, data in files.items():
                tmp = stack.enter_context(atomic_path(Path(current)))
                tmp.write_bytes(data)
                os.chmod(tmp, _FILE_MODE)
                with open(tmp, "rb+") as fh:  # a full disk may only say so here
                    os.fsync(fh.fileno())
            current = None
    except OSError as exc:
        what = Path(current).name if current else "the report files"
        raise RenderError(report, f"cannot write {what}: {exc.strerror or exc}") from None


@dataclass
class RenderResult:
    """What :func:`render_notebook` produced; paths are absolute."""

    slug: str
    files: dict[str, Path]
    timings: dict[str, float]
    findings: dict = field(default_factory=dict)

    @property
    def notebook(self) -> Path:
        return self.files["ipynb"]


# --------------------------------------------------------------------------- parameters


def _parameters_cell(nb: NotebookNode) -> NotebookNode | None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def parameter_names(nb: NotebookNode) -> set[str]:
    """Names assigned at top level in the notebook's cell tagged ``parameters``."""
    cell = _parameters_cell(nb)
    if cell is None:
        return set()
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise ParameterError("parameters cell", cell.source[:60], f"valid Python ({exc})") from None
    names: set[str] = set()
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def _is_json_scalar(value: object) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def validate_parameters(nb: NotebookNode, parameters: Mapping[str, object]) -> dict:
    """Check parameters before papermill sees them; return a plain-JSON copy.

    Only identifiers that the ``parameters`` cell assigns are accepted, and only JSON scalars
    or lists of scalars: anything else could smuggle code into the injected cell.
    """
    known = parameter_names(nb)
    if parameters and _parameters_cell(nb) is None:
        raise ParameterError("parameters", sorted(parameters), "a notebook with a cell tagged "
                             "'parameters'")
    clean: dict = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ParameterError(str(name), value, "a parameter name that is a Python identifier")
        if name not in known:
            raise ParameterError(name, value, f"one of the notebook's parameters {sorted(known)}")
        if isinstance(value, (list, tuple)):
            if not all(_is_json_scalar(v) for v in value):
                raise ParameterError(name, value, "a list of strings, numbers, booleans or null")
            clean[name] = list(value)
        elif _is_json_scalar(value):
            clean[name] = value
        else:
            raise ParameterError(name, value, "a string, number, boolean, null or list of those")
    return clean


def parameterize(nb: NotebookNode, parameters: Mapping[str, object],
                 kernel_name: str = "python3") -> NotebookNode:
    """Validate and inject ``parameters`` with papermill (a new ``injected-parameters`` cell)."""
    from papermill.parameterize import parameterize_notebook

    clean = validate_parameters(nb, parameters)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # papermill expects every cell to carry a tags list
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, clean, kernel_name=kernel_name,
                               language="python")
    nb.metadata["impactbook"] = {"version": __version__, "parameters": clean}
    return nb


# --------------------------------------------------------------------------- kernels


def kernel_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a report kernel gets: ours minus anything that looks like a secret."""
    env = dict(os.environ if environ is None else environ)
    return {k: v for k, v in env.items() if not _SECRET_ENV_RE.search(k)}


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, stat.S_IRWXU)
    return path


class KernelSession:
    """One warm kernel that runs report after report, reset in between.

    The kernel listens only on IPC sockets (POSIX) or 127.0.0.1 (elsewhere), inside a private
    0700 directory, and its connection file is 0600. It is started as soon as the session is
    created (ahead of need) and warmed with the heavy imports; a kernel that died, timed out or
    served ``max_reports`` reports is replaced, and the replacement starts immediately.
    """

    def __init__(self, kernel_name: str = "python3", *, max_reports: int = 50,
                 start: bool = True):
        self.kernel_name = kernel_name
        self.max_reports = max_reports
        self.reports_run = 0
        self.km = None
        self._pending_warm_up = None
        self._dir = _private_dir("impactbook-kernel-")
        self._count = 0
        if start:
            self.start()

    # The kernel manager is async because nbclient drives the kernel with an async client.
    def start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self._count += 1
        kwargs: dict = {"kernel_name": self.kernel_name}
        if os.name == "posix":
            kwargs.update(transport="ipc", ip=str(self._dir / f"k{self._count}"))
        else:
            kwargs.update(transport="tcp", ip="127.0.0.1")
        km = AsyncKernelManager(**kwargs)
        km.connection_file = str(self._dir / f"kernel-{self._count}.json")
        run_sync(km.start_kernel)(
            env=kernel_environment(),
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
        )
        os.chmod(km.connection_file, stat.S_IRUSR | stat.S_IWUSR)
        self.km = km
        self.reports_run = 0
        self._warm = False

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def is_alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and run_sync(self.km.is_alive)()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        if self._pending_warm_up is not None:
            self._pending_warm_up[0].stop_channels()
            self._pending_warm_up = None
        if self.km is not None:
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001, S110 - a dead kernel is already what we want
                pass
            self.km = None

    def replace(self) -> None:
        self.shutdown()
        self.start()

    def close(self) -> None:
        self.shutdown()
        shutil.rmtree(self._dir, ignore_errors=True)

    def run_code(self, code: str, timeout_s: float = 120) -> dict:
        """Run ``code`` silently in the kernel and return the execute reply content."""
        from jupyter_core.utils import run_sync

        async def run() -> dict:
            kc = self.km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=timeout_s)
                reply = await kc.execute(code, silent=True, store_history=False, reply=True,
                                         timeout=timeout_s)
            finally:
                kc.stop_channels()
            return reply["content"]

        return run_sync(run)()

    _WARM_UP_CODE = ("import impactbook._kernel_reset as _ib_reset\n"
                     "_ib_reset.warm_up()\ndel _ib_reset\n")

    def begin_warm_up(self) -> None:
        """Queue the warm-up and return at once; :meth:`warm_up` then waits for it.

        The request waits in the socket until the kernel is up, so the kernel goes straight
        from booting to importing while the caller does its own start-up work.
        """
        from jupyter_core.utils import run_sync

        if self._pending_warm_up is not None or self.km is None:
            return

        async def send():
            kc = self.km.client()
            kc.start_channels()
            return kc, kc.execute(self._WARM_UP_CODE, silent=True, store_history=False)

        self._pending_warm_up = run_sync(send)()

    def _finish_warm_up(self, timeout_s: float = 120) -> dict | None:
        """The reply to a queued warm-up (None if none is queued)."""
        from queue import Empty

        from jupyter_core.utils import run_sync

        if self._pending_warm_up is None:
            return None
        kc, msg_id = self._pending_warm_up
        self._pending_warm_up = None

        async def wait() -> dict:
            deadline = time.monotonic() + timeout_s
            try:
                while True:
                    try:
                        msg = await kc.get_shell_msg(timeout=1)
                    except Empty:
                        if not await self.km.is_alive():
                            raise RuntimeError("kernel died during warm-up") from None
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"kernel warm-up took over {timeout_s:g} s"
                                               ) from None
                        continue
                    if msg["parent_header"].get("msg_id") == msg_id:
                        return msg["content"]
            finally:
                kc.stop_channels()

        return run_sync(wait)()

    def warm_up(self) -> None:
        """Import the heavy libraries now, while nobody is waiting for a report."""
        content = self._finish_warm_up()
        if content is None:
            content = self.run_code(self._WARM_UP_CODE)
        if content.get("status") != "ok":
            raise RuntimeError(f"kernel warm-up failed: {content.get('evalue')}")
        self._warm = True

    def prelude(self, cwd: Path) -> str:
        """Code run silently before each report: warm up once, then reset to pristine."""
        cwd_literal = json.dumps(str(cwd))
        return ("import impactbook._kernel_reset as _ib_reset\n"
                "_ib_reset.warm_up()\n"
                f"_ib_reset.reset({cwd_literal})\n")

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _client_class():
    """A NotebookClient that runs a silent prelude (the kernel reset) before the cells."""
    from nbclient import NotebookClient
    from nbclient.util import ensure_async, run_sync

    class ReportClient(NotebookClient):
        prelude_code = ""

        async def async_start_new_kernel_client(self):
            """Connect a client to the session's running kernel, without idle waits.

            jupyter_client's ``wait_for_ready`` ends by draining IOPub until it has been silent
            for 0.2 s, on every connection: with a warm kernel that is most of the cost of
            starting a report. Here a ``kernel_info`` request is repeated until both its reply
            (shell) and its ``idle`` status (IOPub) arrive, which proves the IOPub subscription
            is live, so no output of the report can be lost; stale IOPub messages need no
            draining because outputs are matched to their request by parent id.
            """
            self.kc = self.km.client()
            try:
                await ensure_async(self.kc.start_channels())
                deadline = time.monotonic() + self.startup_timeout
                while not await self._iopub_answers():
                    if not await ensure_async(self.km.is_alive()):
                        raise RuntimeError("Kernel died before replying to kernel_info")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Kernel didn't respond in {self.startup_timeout} s")
            except Exception:
                await self._async_cleanup_kernel()
                raise
            self.kc.allow_stdin = False
            return self.kc

        async def _iopub_answers(self) -> bool:
            from queue import Empty

            msg_id = self.kc.kernel_info()
            try:
                while True:
                    reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=1))
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                while True:
                    msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=0.2))
                    if (msg["parent_header"].get("msg_id") == msg_id
                            and msg["msg_type"] == "status"
                            and msg["content"].get("execution_state") == "idle"):
                        return True
            except Empty:
                return False

        async def _run_prelude(self) -> None:
            msg_id = self.kc.execute(self.prelude_code, silent=True, store_history=False)
            reply = await self.async_wait_for_reply(msg_id)
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                raise RuntimeError(f"kernel reset failed: {content.get('ename')}: "
                                   f"{content.get('evalue')}")

        async def async_execute(self, reset_kc: bool = False, **kwargs) -> NotebookNode:
            self.reset_execution_trackers()
            async with self.async_setup_kernel(**kwargs):
                try:
                    msg_id = await ensure_async(self.kc.kernel_info())
                    info = await self.async_wait_for_reply(msg_id)
                    if info is not None and "language_info" in info["content"]:
                        self.nb.metadata["language_info"] = info["content"]["language_info"]
                    if self.prelude_code:
                        await self._run_prelude()
                    for index, cell in enumerate(self.nb.cells):
                        await self.async_execute_cell(
                            cell, index, execution_count=self.code_cells_executed + 1)
                finally:
                    # We do not own the kernel; drop our client's sockets but keep the kernel.
                    if self.kc is not None:
                        await ensure_async(self.kc.stop_channels())
                        self.kc = None
            return self.nb

        execute = run_sync(async_execute)

    return ReportClient


def _error_line(nb: NotebookNode, exc: BaseException) -> str:
    """One line naming the failing cell and the exception, for manifests and stderr."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                count = cell.get("execution_count")
                where = f"cell {index + 1}" + (f" (In [{count}])" if count else "")
                value = " ".join(str(output.get("evalue", "")).split())
                return f"{output.get('ename', 'Error')} in {where}: {value}"[:500]
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


def _mark_failed(nb: NotebookNode, message: str) -> None:
    """Put the failure at the top of the kept notebook, as papermill does."""
    import html

    import nbformat

    banner = nbformat.v4.new_markdown_cell(
        f'<div class="ib-error-banner"><strong>Report failed:</strong> '
        f"{html.escape(message)}</div>")
    banner.metadata["tags"] = ["impactbook-error"]
    nb.cells.insert(0, banner)
    nb.metadata.setdefault("impactbook", {})["error"] = message


def execute(nb: NotebookNode, *, cwd: Path, timeout_s: float, session: KernelSession,
            report: str) -> NotebookNode:
    """Run every cell of ``nb`` in the session's kernel, with one deadline for the report.

    On failure the partially executed notebook is attached to the raised
    :class:`RenderError` as ``error.executed`` (with the error shown at the top); a kernel
    that died or timed out is replaced before returning.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if session.km is None or session.reports_run >= session.max_reports:
        session.replace()
    deadline = time.monotonic() + timeout_s

    def remaining(_cell) -> int:
        return max(1, math.ceil(deadline - time.monotonic()))

    client = _client_class()(
        nb, km=session.km, timeout=math.ceil(timeout_s), timeout_func=remaining,
        kernel_name=session.kernel_name, allow_errors=False, record_timing=False,
        startup_timeout=120, resources={"metadata": {"path": str(cwd)}})
    client.prelude_code = session.prelude(cwd)
    try:
        client.execute()
        session.reports_run += 1
        return nb
    except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError,
            TimeoutError) as exc:
        if isinstance(exc, CellTimeoutError) or "Timeout" in type(exc).__name__:
            message = f"timed out after {timeout_s:g} s"
            session.replace()
        elif isinstance(exc, DeadKernelError) or not session.is_alive():
            message = f"kernel died ({' '.join(str(exc).split())[:200]})"
            session.replace()
        else:
            message = _error_line(nb, exc)
            session.reports_run += 1
        _mark_failed(nb, message)
        error = RenderError(report, message)
        error.executed = nb
        raise error from None


# --------------------------------------------------------------------------- findings


def extract_findings(nb: NotebookNode) -> dict:
    """The report's key findings output (last one wins), normalised for the manifest."""
    found: dict | None = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if FINDINGS_MIME in data:
                value = data[FINDINGS_MIME]
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        continue
                if isinstance(value, Mapping):
                    found = dict(value)
    found = _plain(found or {})
    headline = found.get("headline")
    return {
        "key_findings": [str(s) for s in found.get("key_findings") or []],
        "estimates": list(found.get("estimates") or []),
        "headline": dict(headline) if isinstance(headline, Mapping) else None,
    }


def _plain(value):
    """Plain dicts and lists instead of nbformat's NotebookNode: a manifest entry travels from
    a worker to the parent by pickle, and unpickling a NotebookNode makes the parent import
    nbformat and jsonschema (over a second) just to read a report's findings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- export


def _tag_figures(nb: NotebookNode) -> NotebookNode:
    """Tag figure cells and their neighbours so print CSS keeps charts with captions/headings."""
    cells = nb.cells

    def has_image(cell) -> bool:
        return any(any(k.startswith("image/") for k in (o.get("data") or {}))
                   for o in cell.get("outputs", []))

    def add_tag(cell, tag):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if tag not in tags:
            tags.append(tag)

    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not has_image(cell):
            continue
        add_tag(cell, "ib-figure")
        if i > 0 and cells[i - 1].cell_type == "markdown":
            add_tag(cells[i - 1], "ib-before-figure")
        if i + 1 < len(cells) and cells[i + 1].cell_type == "markdown":
            source = cells[i + 1].source.lstrip()
            if not source.startswith("#") and len(source) < 600:
                add_tag(cells[i + 1], "ib-caption")
    return nb


_TABLE_RE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
_ROW_RE = re.compile(r"<tr\b.*?</tr>", re.IGNORECASE | re.DOTALL)
_CELL_RE = re.compile(r"<t[hd]\b[^>]*?(?:colspan=\"?(\d+)\"?)?[^>]*>", re.IGNORECASE)


def _mark_wide_tables(html_text: str) -> str:
    """Wrap tables with many columns so print CSS puts them on a landscape page, smaller."""

    def columns(table: str) -> int:
        widest = 0
        for row in _ROW_RE.findall(table)[:3]:
            widest = max(widest, sum(int(m.group(1) or 1) for m in _CELL_RE.finditer(row)))
        return widest

    def wrap(match: re.Match) -> str:
        table = match.group(0)
        if columns(table) >= _WIDE_TABLE_COLUMNS:
            return f'<div class="ib-wide">{table}</div>'
        return table

    return _TABLE_RE.sub(wrap, html_text)


_SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
})
_SAFE_ATTRIBUTES = {
    "*": ["class", "id", "title", "style", "lang"],
    # data: is allowed for embedded charts only, never as a link target.
    "a": lambda tag, name, value: name == "name" or (
        name == "href" and value.strip().lower().startswith(("http://", "https://", "mailto:",
                                                             "#"))),
    "img": ["src", "alt", "width", "height"],
    "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align", "scope"],
    "table": ["border"], "ol": ["start"], "col": ["span"],
}


_DATA_URI_RE = re.compile(r"(data:image/(?:png|jpeg|gif|webp);base64,)([A-Za-z0-9+/]{64,}={0,2})")


_CLEANERS = threading.local()


def _html_cleaner():
    """One bleach Cleaner per thread (not thread-safe): an export calls it hundreds of times,
    and building its parser each time cost more than the cleaning."""
    cleaner = getattr(_CLEANERS, "cleaner", None)
    if cleaner is None:
        import bleach
        from bleach.css_sanitizer import CSSSanitizer

        cleaner = _CLEANERS.cleaner = bleach.Cleaner(
            tags=_SAFE_TAGS, attributes=_SAFE_ATTRIBUTES,
            protocols={"http", "https", "mailto", "data"}, css_sanitizer=CSSSanitizer(),
            strip=True, strip_comments=True)
    return cleaner


def clean_report_html(element) -> str:
    """Sanitise notebook-produced HTML/Markdown: report markup stays, scripts and handlers go.

    nbconvert's own ``clean_html`` drops headings and table headers, which a report needs.
    """
    import secrets

    text = element.decode() if isinstance(element, bytes) else str(element)
    # bleach tokenises every character of an attribute value, and an embedded chart is
    # 100 kB of base64: set the payloads aside while it works (about 30 ms a chart). Only pure
    # base64 is set aside and put back, and base64 has no character that means anything to
    # HTML, so the result is the same as cleaning the whole text. The random token cannot be
    # forged by the notebook; if the sanitiser drops an attribute, its payload is not restored.
    nonce = secrets.token_hex(8)
    payloads: list[str] = []

    def set_aside(match: re.Match) -> str:
        payloads.append(match.group(2))
        return f"{match.group(1)}ibdata{nonce}n{len(payloads) - 1}e"

    text = _DATA_URI_RE.sub(set_aside, text)
    cleaned = _html_cleaner().clean(text)
    if not payloads:
        return cleaned
    return re.sub(f"ibdata{nonce}n(\\d+)e", lambda m: payloads[int(m.group(1))], cleaned)


def _drop_machine_outputs(nb: NotebookNode) -> NotebookNode:
    """Remove the findings payload: it is for the manifest, not for readers."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if FINDINGS_MIME not in o.get("data", {})]
    return nb


class ReportExporter:
    """nbconvert HTML (no code, no scripts, images inline) and a WeasyPrint PDF of it.

    Building this imports nbconvert and WeasyPrint and compiles the template; a worker builds
    it once and exports every report with it.
    """

    def __init__(self, page_size: str = "A4"):
        from nbconvert import HTMLExporter
        from nbconvert.preprocessors import TagRemovePreprocessor
        from traitlets.config import Config

        if page_size not in PAGE_SIZES:
            raise ParameterError("page_size", page_size, " or ".join(PAGE_SIZES))
        self.page_size = page_size
        config = Config()
        config.TagRemovePreprocessor.enabled = True
        config.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
        config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove_output", "remove-output"}
        self.html_exporter = HTMLExporter(
            config=config, template_name="impactbook",
            extra_template_basedirs=[str(TEMPLATES_DIR)])
        self.html_exporter.exclude_input = True
        self.html_exporter.exclude_input_prompt = True
        self.html_exporter.exclude_output_prompt = True
        self.html_exporter.embed_images = True
        # Notebook text and HTML outputs may carry user data (city names, news titles):
        # sanitise them so no script or handler from the workbook reaches a report.
        self.html_exporter.sanitize_html = True
        self.html_exporter.register_filter("clean_html", clean_report_html)
        self.html_exporter.register_preprocessor(TagRemovePreprocessor(config=config),
                                                 enabled=True)
        self.css = "\n".join((TEMPLATES_DIR / "impactbook" / name).read_text(encoding="utf-8")
                             for name in ("report.css", "print.css"))
        import weasyprint

        self._weasyprint = weasyprint
        self._page_css = weasyprint.CSS(string=f"@page {{ size: {page_size}; }}"
                                               f" @page ib-wide {{ size: {page_size} landscape; }}")

    def to_html(self, nb: NotebookNode, title: str) -> str:
        nb = _tag_figures(_drop_machine_outputs(copy.deepcopy(nb)))
        nb.metadata["title"] = title
        resources = {
            "metadata": {"name": title},
            "impactbook": {"version": __version__, "css": self.css,
                           "generated": _dt.date.today().isoformat()},
        }
        body, _ = self.html_exporter.from_notebook_node(nb, resources=resources)
        return _mark_wide_tables(body)

    def to_pdf(self, html_text: str, base_dir: Path) -> bytes:
        document = self._weasyprint.HTML(string=html_text, base_url=str(base_dir),
                                         media_type="print")
        return document.write_pdf(stylesheets=[self._page_css])


# --------------------------------------------------------------------------- one report


def _normalise_formats(formats: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    for fmt in wanted:
        if fmt not in FORMATS:
            raise ParameterError("formats", fmt, "ipynb, html or pdf")
    return wanted


def read_notebook(notebook: Path) -> NotebookNode:
    import nbformat

    try:
        return nbformat.read(str(notebook), as_version=4)
    except FileNotFoundError:
        raise RenderError(Path(notebook).stem, f"notebook {notebook} does not exist") from None
    except (ValueError, nbformat.ValidationError) as exc:
        raise RenderError(Path(notebook).stem, f"{notebook} is not a notebook ({exc})") from None


def failed_notebook_path(out_dir: Path, slug: str) -> Path:
    """Where a failed report's executed notebook is kept, apart from the last good files."""
    return Path(out_dir) / f"{slug}.failed.ipynb"


def render_notebook(notebook: Path, parameters: Mapping[str, object], out_dir: Path, slug: str,
                    formats: Iterable[str] = ("html", "pdf"), timeout_s: float = DEFAULT_TIMEOUT_S,
                    kernel: KernelSession | None = None, *, exporter: ReportExporter | None = None,
                    title: str | None = None, page_size: str = "A4") -> RenderResult:
    """Execute ``notebook`` with ``parameters`` and write ``out_dir/<slug>.{ipynb,html,pdf}``.

    Every file is written atomically. If execution or export fails, the executed notebook
    (with the error) is kept as ``<slug>.failed.ipynb`` beside the previous good files, which
    stay untouched, and :class:`RenderError` is raised with ``notebook`` set to its path.
    ``kernel`` and ``exporter`` let a caller reuse a
    warm kernel and a loaded exporter across reports; otherwise fresh ones are made.
    """
    import nbformat

    started = time.perf_counter()
    notebook = Path(notebook)
    out_dir = Path(out_dir)
    wanted = _normalise_formats(formats)
    title = title or slug
    nb = parameterize(read_notebook(notebook), parameters,
                      kernel_name=kernel.kernel_name if kernel else "python3")
    ipynb_path = out_dir / f"{slug}.ipynb"
    failed_path = failed_notebook_path(out_dir, slug)
    own_kernel = kernel is None
    session = kernel or KernelSession()
    timings: dict[str, float] = {}
    try:
        try:
            execute(nb, cwd=notebook.resolve().parent, timeout_s=timeout_s, session=session,
                    report=slug)
        except RenderError as error:
            try:
                write_report_files({failed_path: nbformat.writes(error.executed).encode("utf-8")},
                                   slug)
                error.notebook = str(failed_path)
            except RenderError:
                pass  # the report's own failure is the news; the notebook could not be kept
            raise
        finally:
            timings["execute_s"] = round(time.perf_counter() - started, 3)
    finally:
        if own_kernel:
            session.close()
    # Nothing is written until every export succeeded; then all files are replaced together.
    outputs = {ipynb_path: nbformat.writes(nb).encode("utf-8")}
    files = {"ipynb": ipynb_path}
    if "html" in wanted or "pdf" in wanted:
        exporter = exporter or ReportExporter(page_size)
        t0 = time.perf_counter()
        html_text = exporter.to_html(nb, title)
        timings["html_s"] = round(time.perf_counter() - t0, 3)
        pdf_bytes = None
        if "pdf" in wanted:
            t0 = time.perf_counter()
            try:
                pdf_bytes = exporter.to_pdf(html_text, out_dir)
            except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many kinds
                write_report_files({failed_path: outputs[ipynb_path]}, slug)
                raise RenderError(slug, f"PDF export failed: {exc}",
                                  notebook=str(failed_path)) from exc
            timings["pdf_s"] = round(time.perf_counter() - t0, 3)
        if "html" in wanted:
            files["html"] = out_dir / f"{slug}.html"
            outputs[files["html"]] = html_text.encode("utf-8")
        if pdf_bytes is not None:
            files["pdf"] = out_dir / f"{slug}.pdf"
            outputs[files["pdf"]] = pdf_bytes
    write_report_files(outputs, slug)
    failed_path.unlink(missing_ok=True)  # an earlier failure is superseded
    timings["total_s"] = round(time.perf_counter() - started, 3)
    return RenderResult(slug=slug, files=files, timings=timings, findings=extract_findings(nb))


