#!/usr/bin/env bash
# The TensorFlow x Python combinations the README's compatibility section
# states, each in its own virtualenv under /tmp/tf1_wn_compat: installs
# tensorflow-cpu==TF for that Python and runs the core tests (layers,
# cells, native kernels, checkpoint tools, the ports' layers).  Too slow
# for CI (minutes of download per combination); run by hand:
#
#     bash tools/compat_matrix.sh 3.9:2.13 3.12:2.16 3.13:2.21
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${TF1_WN_COMPAT_DIR:-/tmp/tf1_wn_compat}
TESTS="tests/layers tests/rnn tests/test_native_ops.py tests/checkpoint
       tests/test_pixelcnn_compat.py tests/lasagne/test_lasagne_layers.py
       tests/distributed/test_replicated_init.py"
# pythonX.Y on PATH if it runs, else pyenv's newest X.Y.
python_for() {
    if "python$1" --version > /dev/null 2>&1; then
        echo "python$1"
        return
    fi
    local versions="${PYENV_ROOT:-$HOME/.pyenv}/versions"
    echo "$versions/$(ls "$versions" | grep "^$1\." | tail -n 1)/bin/python"
}

for combo in "$@"; do
    py=${combo%%:*}; tfv=${combo##*:}
    venv="$ROOT/py$py-tf$tfv"
    log="$ROOT/py$py-tf$tfv.log"
    mkdir -p "$ROOT"
    {
        "$(python_for "$py")" -m venv "$venv" &&
        "$venv/bin/pip" install -q --disable-pip-version-check \
            "tensorflow-cpu==$tfv.*" -e '.[test]' &&
        "$venv/bin/python" -c 'import tensorflow as t, numpy as n, sys; print("python", sys.version.split()[0], "tensorflow", t.__version__, "numpy", n.__version__)' &&
        TF1_WN_CACHE_DIR="$venv/native-cache" "$venv/bin/python" -m pytest -q -p no:cacheprovider $TESTS
    } > "$log" 2>&1
    echo "py$py tf$tfv: exit $? ($(tail -n 1 "$log"))"
done
