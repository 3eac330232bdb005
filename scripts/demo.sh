#!/usr/bin/env bash
# `make demo`: three comparisons, each announced with what it shows and the result to expect.
# Exits 0 when every run ended as expected (a divergence found where one was planted).
set -u
BIN=${1:-.venv/bin}
failures=0

run() {  # run EXPECTED_EXIT "what it shows" parity-arguments...
    local expected=$1 what=$2
    shift 2
    printf '\n=== %s\n=== expected: %s\n$ parity %s\n\n' "$what" \
        "$([ "$expected" = 0 ] && echo "ok, exit 0" || echo "a divergence, exit 1")" "$*"
    "$BIN/parity" "$@"
    local code=$?
    if [ "$code" = "$expected" ]; then
        printf '\n=== as expected (exit %s)\n' "$code"
    else
        printf '\n=== NOT as expected: exit %s, wanted %s\n' "$code" "$expected"
        failures=$((failures + 1))
    fi
}

run 1 "MXNet -> Caffe (MobileFaceNet): the classic BatchNorm eps bug, found at its layer" \
    compare fixtures/mobilefacenet/model-symbol.json fixtures/mobilefacenet/model.prototxt \
    --image fixtures/face.jpg
run 0 "PyTorch -> ONNX, a correct export: every layer within tolerance" \
    compare fixtures/smallcnn.onnx fixtures/smallcnn.pt --random --seed 0
run 1 "PyTorch -> ONNX with one BatchNorm epsilon changed: the first divergence and its cause" \
    compare fixtures/smallcnn_bad_eps.onnx fixtures/smallcnn.pt --random --seed 0

if [ "$failures" = 0 ]; then
    printf '\ndemo: all 3 runs ended as expected\n'
else
    printf '\ndemo: %s run(s) did not end as expected\n' "$failures"
fi
exit "$failures"
