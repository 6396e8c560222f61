#!/bin/bash
# Phase 2 for issue 11: apply, normalize, translate, then execute lessons ($@, e.g. 05 00 04 01) en+ja in parallel.
set -u
cd /work/main
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=PASSIVE
mkdir -p /work/edits/logs
for n in "$@"; do
  en=$(ls notebooks/${n}_*.ipynb); ja=notebooks/ja/$(basename $en)
  echo "== $n start $(date +%T) load: $(uptime | sed 's/.*load/load/')"
  .venv/bin/python -m scripts.run_notebooks $en > /work/edits/logs/run_en_$n.log 2>&1 &
  p1=$!
  .venv/bin/python -m scripts.run_notebooks $ja > /work/edits/logs/run_ja_$n.log 2>&1 &
  p2=$!
  wait $p1; echo "en $n rc=$? $(tail -1 /work/edits/logs/run_en_$n.log)"
  wait $p2; echo "ja $n rc=$? $(tail -1 /work/edits/logs/run_ja_$n.log)"
  echo "== $n done $(date +%T) load: $(uptime | sed 's/.*load/load/')"
done
