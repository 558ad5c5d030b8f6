"""pytest setup for grader/: the `keos` fixture and the timing summary live in
harness/plugin.py so that other pytest runs (the harness's own tests) can load them too.
The markers are declared in pytest.ini."""

pytest_plugins = ["harness.plugin", "pytester"]   # pytester: test_plugin.py
