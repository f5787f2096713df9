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
