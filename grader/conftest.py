"""pytest setup for grader/: the `keos` fixture and the timing summary live in
harness/plugin.py so that other pytest runs (the harness's own tests) can load them too."""

pytest_plugins = ["harness.plugin"]


def pytest_configure(config):
    # pytest.ini is not ours to edit; --strict-markers needs every marker declared.
    config.addinivalue_line(
        "markers", "mutants: builds kernels with planted bugs and checks the grader "
                   "catches each (slow; deselect with -m 'not mutants')")
    config.addinivalue_line(
        "markers", "course: grades submissions officially, in batches and through "
                   "Gradescope's run_autograder (slow; deselect with -m 'not course')")
