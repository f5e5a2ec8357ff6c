"""One macro per fuzz target: the libFuzzer binary (manual: built only by scripts/fuzz.sh with
clang) and a plain cc_test that replays the target's corpus and regressions with any compiler."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def replicator_fuzzer(name, srcs, deps = []):
    cc_library(
        name = name + "_entry",
        srcs = srcs,
        deps = deps + ["//:replicator", ":fuzz_input"],
        alwayslink = 1,
    )
    cc_binary(
        name = name + "_fuzzer",
        deps = [":" + name + "_entry"],
        tags = ["manual"],
    )
    cc_test(
        name = name + "_corpus_test",
        srcs = ["corpus_main.cpp"],
        deps = [":" + name + "_entry"],
        data = native.glob(["corpus/" + name + "/**"]),
        args = ["fuzz/corpus/" + name],
        size = "small",
    )
