"""The contract API works with no torch installed (contract §9)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CODE = textwrap.dedent(
    """
    import sys

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"torch", "torchvision"}:
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, _Block())
    import mural
    assert mural.scaled_size((480, 640), (800, 1280)) == (800, 1067)
    c = mural.generate_candidates([[1, 1, 3, 3]], (10, 10), (5, 5))
    assert c[0].objects == (0,)
    assert abs(mural.informative_score([0.5], [0], [1, 1]) - 1.0) < 1e-12
    assert mural.select_scale_aware([[(0.5, [1])]], 1) == [(0, 0)]
    assert mural.acquire_region([[1, 1, 3, 3]], (0, 0, 5, 5))[0].tolist() == [0]
    import mural.core, mural.detections, mural.cli
    mural.cli.build_parser()
    assert not any(m.split(".")[0] in {"torch", "torchvision"} for m in sys.modules)
    print("ok")
    """
)


def test_contract_api_without_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
