"""Drop the outputs a report displays for the renderer (its findings payload, a failed
section's record): they are read from the executed notebook, never shown to a reader."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor

from impactbook.defaults import FINDINGS_MIME, SECTION_FAILURE_MIME

MACHINE_MIMES = (FINDINGS_MIME, SECTION_FAILURE_MIME)


class DropMachineOutputs(Preprocessor):
    """Remove every output carrying one of :data:`MACHINE_MIMES`."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not any(mime in (o.get("data") or {}) for mime in MACHINE_MIMES)]
        return cell, resources
