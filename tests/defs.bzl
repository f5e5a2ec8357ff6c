"""replicator_test: the BUILD boilerplate of a Catch2 test of the toolkit, once."""

load("@rules_cc//cc:defs.bzl", "cc_test")

_COMMON_DEPS = ["//:replicator", "//tests:catch_main", "@system//:catch2"]

def replicator_test(name, srcs = None, deps = [], **kwargs):
    """A cc_test of `<name>.cpp` (unless srcs is given) with Catch2's main and the header library.

    Args:
      name: the test's name; its source is name + ".cpp" by default.
      srcs: other sources, when the default does not fit.
      deps: what the test needs beyond the header library and Catch2 (e.g. "//tests/support:pg").
      **kwargs: any other cc_test attribute (data, tags, size, ...).
    """
    cc_test(
        name = name,
        srcs = srcs if srcs != None else [name + ".cpp"],
        deps = _COMMON_DEPS + [d for d in deps if d not in _COMMON_DEPS],
        **kwargs
    )
