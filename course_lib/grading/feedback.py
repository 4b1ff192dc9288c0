"""An nbconvert preprocessor for ``nbgrader generate_feedback``.

``ClearHiddenTests`` removes the hidden tests from a graded cell's source, but
an error raised inside that cell carries an IPython traceback that quotes the
hidden lines. The checkers never raise because of student code, yet a hidden
cell can still fail (the student rebound ``grading``, or the cell timed out),
so the feedback keeps only the error's last line, ``ename: evalue``.

Used from ``nbgrader_config.py``; importing it needs nbconvert (installed with nbgrader).
"""
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool


class HideTestTracebacks(Preprocessor):
    """Reduce the tracebacks of errors in autograded test cells to ``ename: evalue``."""

    enabled = Bool(True, help="Whether nbgrader runs this preprocessor").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        grading = cell.get("metadata", {}).get("nbgrader", {})
        is_test_cell = grading.get("grade") and not grading.get("solution")
        if cell.cell_type == "code" and is_test_cell:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
