import re
from pathlib import Path

PACING_DOC = Path(__file__).resolve().parents[2] / "docs" / "pacing.md"


def test_the_documented_pacing_example_runs():
    text = PACING_DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, str(PACING_DOC), "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["calls_to_launch"] >= 0
