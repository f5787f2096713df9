# Writes rotations.json for TestRotateMatchesTorchvision: MNIST training
# images 0-2 rotated by torchvision's rotate on PIL images (the code path of
# transforms.RandomRotation), nearest and bilinear, fill 0.
# Run: python3 make_rotations.py MNIST_DIR  (torchvision 0.14.1, Pillow 9.4.0;
# MNIST_DIR holds train-images-idx3-ubyte.gz, e.g. the GoMNIST module's data/).
import gzip, json, sys
import numpy as np
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

with gzip.open(sys.argv[1] + "/train-images-idx3-ubyte.gz") as f:
    pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)

cases = []
for index in range(3):
    img = Image.fromarray(pixels[index], mode="L")
    for angle in [-7.0, -3.3, 0.5, 5.0, 6.99, 30.0, -45.0, 90.0, 180.0, -90.0, 123.4]:
        for mode in ["nearest", "bilinear"]:
            out = F.rotate(img, angle, interpolation=InterpolationMode(mode), fill=0)
            cases.append({"index": index, "angle": angle, "mode": mode,
                          "pixels": np.asarray(out).reshape(-1).tolist()})
json.dump(cases, open("rotations.json", "w"), separators=(",", ":"))
print(len(cases), "cases")
