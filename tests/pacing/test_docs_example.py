import re
from pathlib import Path

PACING_DOC = Path(__file__).resolve().parents[2] / "docs" / "pacing.md"


def test_the_documented_pacing_example_gives_the_figures_the_doc_states():
    text = PACING_DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, str(PACING_DOC), "exec"), namespace)  # noqa: S102 - our own docs
    # No randomness in the policy: the figures are exact. On a cold start,
    # progressive (4 ready agents less 1 ringing call); warmed up, ahead.
    assert (namespace["cold_start"], namespace["calls_to_launch"]) == (3, 6)
    prose = " ".join(text.split())  # however the paragraph is wrapped
    assert "progressively: 3 calls" in prose and "ahead of the agents: 6 calls" in prose
