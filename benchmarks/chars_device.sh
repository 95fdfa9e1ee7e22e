#!/usr/bin/env bash
# Measures the character models on a quiet machine with a GPU, in one go (about 4 minutes):
# the benchmark on the CPU and on CUDA, then the three experiments as shipped, on CPU and CUDA.
#   bash benchmarks/chars_device.sh OUT_DIR DATA_DIR_WITH_DINOS_TXT
set -u
out=${1:?output folder}; data=${2:?folder holding dinos.txt}
mkdir -p "$out"
export PYTHONPATH=$PWD VITUI_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null; echo "cpus $(nproc)"
python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
sha256sum "$data/dinos.txt"
timeout 240 python3 benchmarks/bench_chars.py --data-dir "$data" --rounds 3 --device cpu --torch-iterations 300 2>&1 | tee "$out/bench_cpu.txt"
timeout 150 python3 benchmarks/bench_chars.py --data-dir "$data" --rounds 3 --models lstm,gru --device cuda --torch-iterations 400 2>&1 | tee "$out/bench_cuda.txt"
for device in cpu cuda; do
  for experiment in rnn-dinos lstm-dinos gru-dinos; do
    [ "$device" = cuda ] && [ "$experiment" = rnn-dinos ] && continue  # NumPy: no device
    log="$out/$experiment-$device.txt"
    /usr/bin/time -f "wall %e s" timeout 150 python3 -m vitui run "$experiment" --no-tui --device "$device" \
      --data-dir "$data" --runs-dir /tmp/chars-runs > "$log" 2>&1
    echo "== $experiment on $device"; grep -E "^iteration (2000|22000|35000)/|finished|wall" "$log"
  done
done
