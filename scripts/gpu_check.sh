#!/usr/bin/env bash
# The project's own code on a lent GPU machine, which has JAX and no TensorFlow (../shared/TOOLS.md).
#
#   scripts/gpu_check.sh prepare    # here: wheels the GPU machine lacks -> .whl/, data -> .gpudata/
#   scripts/gpu_check.sh run        # there, from the repository root (device tool: carry .whl and .gpudata)
#
# `run` checks, under KERAS_BACKEND=jax on the GPU: the backend contract tests (both families:
# finite, falling losses, health checks, mixed-precision dtypes, the float16 loss scale); `train` with
# no config on three NASA channels (training.precision: auto picks the policy), then `evaluate` on
# their labelled test parts; and a Loghub log file trained and scored with no config
# (logs.format: auto). Files for the report go to $OUT (or .gpudata/out).
set -u
cd "$(dirname "$0")/.."
SERIES="smap/A-1 smap/E-1 msl/C-1"

prepare() {
    local py=${PYTHON:-.venv/bin/python} datasets=${DATASETS:-../shared/datasets}
    local plat="--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any"
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.gpudata/' .git/info/exclude 2>/dev/null || echo '/.gpudata/' >> .git/info/exclude
    mkdir -p .whl .gpudata/nasa
    # The versions of this venv; drain3 ships no wheel, so one is built from its sdist.
    local name
    for name in keras namex optree cachetools jsonpickle kafka-python; do
        "$py" -m pip download -q --no-deps --only-binary=:all: $plat -d .whl \
            "$("$py" -m pip freeze | grep -i "^${name}==")" || return 1
    done
    "$py" -m pip wheel -q --no-deps -w .whl "$("$py" -m pip freeze | grep -i '^drain3==')" || return 1
    local s
    for s in $SERIES; do
        mkdir -p ".gpudata/nasa/$s" && cp "$datasets/nasa/$s/"*.csv ".gpudata/nasa/$s/" || return 1
    done
    if [ ! -s .gpudata/HDFS_2k.log ]; then
        echo "gpu_check: put a Loghub sample at .gpudata/HDFS_2k.log (logpai/loghub HDFS/HDFS_2k.log)" >&2
        return 1
    fi
    du -sh .whl .gpudata
}

run() {
    local out=${OUT:-.gpudata/out} s n d
    mkdir -p "$out"
    # The machine's Python with JAX is a venv of its own, not /usr/bin/python3.
    [ -x /opt/torch/.venv/bin/python3 ] && export PATH=/opt/torch/.venv/bin:$PATH
    export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || return 1
    export PYTHONPATH=$PWD:/tmp/site
    nvidia-smi -L
    python3 -c "import keras, jax; print('keras', keras.__version__, 'jax', jax.__version__, jax.devices())"
    echo "== backend contract on the GPU"
    SECONDS=0
    timeout 300 python3 -m pytest -q -p no:cacheprovider -o addopts="" \
        tests/models/test_backend_contract.py 2>&1 | tail -12
    echo "contract: ${SECONDS}s"
    echo "== train and evaluate with no config"
    for s in $SERIES; do
        d=.gpudata/nasa/$s; n=$(basename "$s"); SECONDS=0
        python3 -m anomaly_gan train --data "$d/train.csv" --out "/tmp/m-$n" > "$out/train-$n.log" 2>&1
        echo "$n train rc=$? wall ${SECONDS}s"; tail -4 "$out/train-$n.log"
        python3 -m anomaly_gan evaluate --model "/tmp/m-$n" --data "$d/test.csv" \
            --labels "$d/test_label.csv" 2>&1 | tail -5
        cp "/tmp/m-$n/metadata.json" "$out/metadata-$n.json"
    done
    echo "== a log file with no config"
    SECONDS=0
    python3 -m anomaly_gan train --data .gpudata/HDFS_2k.log --out /tmp/mlog > "$out/train-hdfs.log" 2>&1
    echo "hdfs train rc=$? wall ${SECONDS}s"; tail -4 "$out/train-hdfs.log"
    python3 -m anomaly_gan score --model /tmp/mlog --data .gpudata/HDFS_2k.log --out /tmp/hdfs.csv 2>&1 | tail -2
}

case ${1:-} in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: scripts/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac
