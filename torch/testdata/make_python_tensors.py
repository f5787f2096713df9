# Writes python_tensors.pt with PyTorch's own torch.save, for
# TestLoadPythonFile. Run: python3 make_python_tensors.py (PyTorch 1.13.1).
import torch

torch.save(
    {
        "w": torch.tensor([[0.25, -1.0, 3.5], [1e-3, 0.0, 42.0]], dtype=torch.float32),
        "steps": torch.tensor([12345678901], dtype=torch.int64),
        "mask": torch.tensor([0, 255, 3], dtype=torch.uint8),
    },
    "python_tensors.pt",
)

# What model.state_dict() returns is an OrderedDict, which libtorch 1.13's
# unpickler cannot read (TestLoadOrderedDictExplains).
torch.manual_seed(0)
torch.save(torch.nn.Linear(2, 1).state_dict(), "python_ordereddict.pt")

# The legacy (pre-1.6) format, which CheckArchive refuses with a line saying
# so (TestCheckArchiveRefuses).
torch.save({"w": torch.ones(2)}, "python_legacy.pt", _use_new_zipfile_serialization=False)

# A plain dict with an entry that is neither a tensor nor a string: libtorch
# refuses it with its own reason, which must not be taken for the
# OrderedDict case (every tensor's pickle names OrderedDict too).
torch.save({"w": torch.ones(2), "n": 3}, "python_dict_with_int.pt")

# A whole pickled module rather than its state dict.
torch.manual_seed(0)
torch.save(torch.nn.Linear(2, 1), "python_module.pt")
