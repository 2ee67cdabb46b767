"""The report kernel: one warm, isolated Jupyter kernel, and running a notebook in it.

:class:`KernelSession` owns one warm kernel (loopback/IPC only, private connection file, no
SMTP secrets in its environment) and resets it between reports so that output never depends
on what ran before; :func:`execute` runs a notebook's cells in it under one deadline.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.errors import RenderError

if TYPE_CHECKING:  # nbformat is imported where used, so a batch worker can start its kernel
    from nbformat import NotebookNode  # before it spends a second importing nbformat/jsonschema

# What a report kernel (and a batch worker) may see of our environment: an allow-list, since
# a deny-list cannot know every name a secret hides under (OPENAI_API_KEY, DATABASE_URL with a
# password, ...). Locale, paths, temp folders, thread limits, and the Python, Jupyter and
# matplotlib settings that decide how a notebook runs.
_ALLOWED_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONDONTWRITEBYTECODE",
    "PYTHONNOUSERSITE", "VIRTUAL_ENV", "CONDA_PREFIX", "MPLBACKEND", "MPLCONFIGDIR",
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    "FONTCONFIG_FILE", "FONTCONFIG_PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS",
    "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR", "APPDATA", "LOCALAPPDATA", "USERPROFILE",
})
_ALLOWED_PREFIXES = ("LC_", "JUPYTER_", "IPYTHON", "IMPACTBOOK_")
# Never passed even under an allowed prefix: mail credentials and anything named like a secret.
_SECRET_ENV_RE = re.compile(r"^IMPACTBOOK_SMTP_|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|"
                            r"API_?KEY|PRIVATE|AUTH", re.IGNORECASE)


def kernel_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a report kernel gets: the allowed names of ours, never a secret."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items()
            if (k in _ALLOWED_ENV or k.startswith(_ALLOWED_PREFIXES))
            and not _SECRET_ENV_RE.search(k)}


def _private_dir(prefix: str) -> Path:
    # Private on purpose, whatever the umask: the kernels' connection files inside hold the
    # key that lets anyone who reads them run code in the kernel.
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
        # Owner-only on purpose (not the umask): the connection file holds the kernel's key.
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

    _WARM_UP_CODE = ("import impactbook.render.kernel_reset as _ib_reset\n"
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
        return ("import impactbook.render.kernel_reset as _ib_reset\n"
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
