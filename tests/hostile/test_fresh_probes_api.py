"""A fresh pass of hostile inputs, the Python API: an argument of the wrong kind is refused by the function's own
error, in one message that names the argument (pathlib's TypeError, or a true value read as "yes", were not)."""
import pytest

import hadamard_min as hm
from hadamard_min.io.model_files import ModelFileError
from hadamard_min.learner.ops import LearnerError


@pytest.mark.parametrize("folder", [None, 3, b"exercises", ["exercises"]], ids=["None", "int", "bytes", "list"])
def test_learner_refuses_a_folder_that_is_not_a_path(folder):
    with pytest.raises(LearnerError, match="folder of exercises"):
        with hm.learner(folder):
            pass


def test_learner_refuses_a_file_as_its_folder(tmp_path):
    """Pinned: a path that is not a folder is a LearnerError too."""
    (tmp_path / "ex02_unbroadcast.py").write_text("")
    with pytest.raises(LearnerError, match="not a folder"):
        with hm.learner(tmp_path / "ex02_unbroadcast.py"):
            pass


@pytest.mark.parametrize("verify", ["no", 0, None], ids=["text", "zero", "None"])
def test_load_model_refuses_a_verify_that_is_not_a_bool(verify):
    with pytest.raises(ModelFileError, match="verify must be True or False"):
        hm.load_model(verify=verify)
