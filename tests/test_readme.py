"""The README's example runs as written and does what the text says."""
import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def _example_block():
    text = open(README, encoding="utf-8").read()
    marker = text.index("<!-- readme-example:")
    match = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    return match.group(1)


def test_readme_example_runs_as_written(tmp_path):
    code = _example_block().replace("/tmp/tf1_wn_readme",
                                    str(tmp_path / "ckpt"))
    # Append checks of what the README promises after data init.
    code += (
        "\nwith tf.Session() as sess:\n"
        "    saver.restore(sess, str(%r) + '/model.ckpt')\n"
        "    assert np.isfinite(sess.run(loss, {x: images, y: labels}))\n"
        "print('restored ok')\n" % str(tmp_path / "ckpt"))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "saved to" in result.stdout
    assert "restored ok" in result.stdout
