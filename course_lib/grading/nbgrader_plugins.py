"""nbgrader's side of the trusted grader: two preprocessors that ``nbgrader_config.py`` installs.

- :class:`TrustedExecute` takes the place of nbgrader's ``Execute`` while
  autograding: the notebook is never run in a kernel; every graded cell gets
  the points the trusted grader (:mod:`course_lib.grading.trusted`) computed,
  as the one ``execute_result`` nbgrader reads, after the checker's reasons.
- :class:`RobustDeduplicateIds` takes the place of nbgrader's
  ``DeduplicateIds`` while sanitizing: a pasted copy of a graded cell loses its
  nbgrader metadata altogether (nbgrader's own blanks it, and its missing-cell
  restore then crashes with ``KeyError: 'grade_id'``, zeroing the student), and
  so does a cell whose metadata was damaged.
"""
from __future__ import annotations

import os

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from course_lib.grading import registry, trusted


class TrustedExecute(NbGraderPreprocessor):
    """Graded cells show the trusted points; nothing of the notebook runs in nbgrader's kernel."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        assignment = (resources.get("nbgrader") or {}).get("assignment", "assignment1")
        if assignment not in registry.ASSIGNMENTS:
            raise ValueError(f"TrustedExecute: no trusted checkers for assignment {assignment!r}; "
                             f"known: {sorted(registry.ASSIGNMENTS)}")
        root = self.config.CourseDirectory.get("root") or os.getcwd()
        # nbgrader's per-cell timeout bounds the cells that run before each exercise.
        timeout = self.config.Execute.get("timeout")
        timeout = float(str(timeout)) if timeout is not None else None  # a command-line value arrives as text
        # The class command (course_lib.grading.grade_class) grades in parallel first; what it
        # computed for this exact content is reused, anything else is graded here.
        results = trusted.cached_results(nb, assignment, root)
        if results is None:
            results = trusted.grade_notebook(
                nb, assignment, cells_seconds=timeout if timeout and timeout > 0 else None, course_directory=root)
        else:
            self.log.info("Trusted results computed in parallel by the class command are reused")
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            meta = cell.metadata.get("nbgrader", {})
            exercise = str(meta.get("grade_id", "")).removesuffix("_tests")
            if meta.get("grade") and not meta.get("solution") and exercise in results:
                points, maximum, report = results[exercise]
                cell_points = float(meta.get("points", maximum))
                if report:
                    cell.outputs.append(new_output("stream", name="stdout", text=report + "\n"))
                score = points * cell_points / maximum if maximum else 0.0
                cell.outputs.append(new_output("execute_result", data={"text/plain": repr(float(score))},
                                               execution_count=1))
        return nb, resources


class RobustDeduplicateIds(NbGraderPreprocessor):
    """Keep the last cell of each grade_id (as nbgrader does); copies become plain cells."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        seen = set()
        for cell in reversed(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not grade_id or grade_id in seen:
                if grade_id:
                    self.log.warning("Cell with id '%s' exists multiple times: the copy is graded as "
                                     "plain code", grade_id)
                del cell.metadata["nbgrader"]
                continue
            seen.add(grade_id)
        return nb, resources
