"""nbgrader configuration: the repository root is the course directory.

Instructors run every command from the repository root, e.g.
``nbgrader generate_assignment assignment1 --force`` (solutions/ -> exercises/),
``nbgrader autograde assignment1``, ``nbgrader generate_feedback assignment1``,
``nbgrader export``. Students are added with ``nbgrader db student add ID``
(``CourseDirectory.db_students`` is ignored by nbgrader 0.9).
"""

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

c.CourseDirectory.course_id = "keras-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Scores come from the trusted grader (course_lib.grading.trusted), not from the
# student's kernel: it replaces nbgrader's Execute, so no kernel runs a submission;
# each exercise runs in a sandboxed child process and the checkers run outside it.
# Pasted copies of graded cells lose their nbgrader metadata instead of crashing
# nbgrader's missing-cell restore. (Both need course_lib importable.)
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "course_lib.grading.nbgrader_plugins.RobustDeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "course_lib.grading.nbgrader_plugins.TrustedExecute",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Per-cell limit while autograding. The training exercise is the slowest cell
# (the reference trains in well under a second; the checker itself stops a
# student's train_mlp after 60 s), so 120 s leaves room on a slow machine.
c.Execute.timeout = 120
# A cell that prints nothing for a while is not a failure.
c.Execute.raise_on_iopub_timeout = False

# A submission whose graded test cell was deleted gets it back (and so its
# hidden tests run) instead of silently scoring nothing for it.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell 0 as soon as it writes anything to stderr. Drop
# stderr output that is only a Python warning (numpy's RuntimeWarning, a
# DeprecationWarning from a library) so that warnings never zero a correct answer.
# IgnorePattern is disabled unless enabled explicitly.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\b\w*Warning: "

# Feedback shows the student's graded notebook; the hidden tests were put back
# into it for grading, so clear them again before rendering, and cut the
# tracebacks of errors in test cells (IPython quotes the failing source lines).
# The second entry needs course_lib importable (pip install -e . or PYTHONPATH).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.ClearHiddenTests",
    "course_lib.grading.feedback.HideTestTracebacks",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
