#!/usr/bin/env bash
# The device check of the Qwen3-ASR engine, run as it is on a machine with a CUDA GPU (from the repository
# root, with the project installed: `pip install torch && pip install -e ".[qwen3,dev]"`). Nothing is
# downloaded: the models are the tiny random Qwen3-ASR and aligner the tests build, so it proves the CUDA
# path (bfloat16, batching, the header scores kept while decoding, every surface), not the real model's
# accuracy or speed. About five minutes; stops at the first failure.
#
#   bash bench/gpu_check.sh [OUT_DIR]
set -euo pipefail
out="${1:-${OUT:-/tmp/openasr-gpu-check}}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python}"

echo "== the GPU torch sees"
"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(0), torch.__version__)"

echo "== the tiny models on CUDA: the engine, then every surface (DashScope sync/stream/async, OpenAI, CLI)"
OPENASR_TEST_DEVICE=cuda "$py" -m pytest tests/integration/test_qwen3_engine.py tests/contract/test_qwen3_surfaces.py \
    -x -q -p no:cacheprovider 2>&1 | tee "$out/surfaces.txt"

echo "== bench/throughput.py on CUDA with the tiny model (the path, not the real model's speed)"
"$py" - "$out/tiny" <<'PY'
import sys
sys.path.insert(0, "tests")
from pathlib import Path
from qwen3_models import build_tiny_qwen3
models = build_tiny_qwen3(Path(sys.argv[1]))
print(models.asr, models.aligner)
PY
OPENASR_DEVICE=cuda "$py" bench/throughput.py --model "$out/tiny/asr" --aligner "$out/tiny/aligner" \
    --minutes 2 --rounds 1 2>&1 | tee "$out/throughput.txt"

echo "== peak GPU memory of a batch of 32 of 30 s items the random model decodes to their budget (scores kept only up to <asr_text>)"
"$py" - "$out/tiny" <<'PY' 2>&1 | tee "$out/memory.txt"
import sys
import numpy as np
import torch
sys.path.insert(0, "tests")
from pathlib import Path
from qwen3_models import TinyQwen3
from openasr.engines.base import RecognitionItem, RecognitionRequest
from openasr.engines.qwen3_backend import Qwen3Config
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.engine_pool import EnginePool
root = Path(sys.argv[1])
tiny = TinyQwen3(root / "asr", root / "aligner", root)
engine = EnginePool(root / "cache", EngineConfig((Qwen3Config(device="cuda"),))).get(str(tiny.asr)).inner
items = [RecognitionItem(np.random.RandomState(n).randn(16000 * 30).astype(np.float32) * 0.05, RecognitionRequest(None)) for n in range(32)]
torch.cuda.reset_peak_memory_stats()
results = engine.recognize(items)
print(f"batch 32 x 30 s: truncated {sum(r.truncated for r in results)}/32, peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
PY

echo "== the remote engine against the vLLM-like far side and against another openasr (loopback)"
"$py" -m pytest tests/contract/test_remote_vllm.py tests/contract/test_remote_engine.py -x -q -p no:cacheprovider \
    2>&1 | tee "$out/remote.txt"
echo "== all device checks passed; logs in $out"
