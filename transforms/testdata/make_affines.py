# Writes affines.json for TestAffineMatchesTorchvision: MNIST training
# images 0-2 moved by torchvision's affine on PIL images (the code path of
# transforms.RandomAffine with degrees and translate: scale 1, shear 0),
# nearest and bilinear, fill 0.
# Run: /usr/bin/python3 make_affines.py MNIST_DIR  (torchvision 0.14.1,
# Pillow 9.4.0; MNIST_DIR holds train-images-idx3-ubyte.gz, e.g. the GoMNIST
# module's data/).
import gzip, json, sys
import numpy as np
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

with gzip.open(sys.argv[1] + "/train-images-idx3-ubyte.gz") as f:
    pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)

moves = [(-7.0, 0, 0), (5.0, 2, -1), (-3.3, -3, 2), (0.0, 3, 0), (0.0, -2, -3), (6.99, 0, 3),
         (30.0, 1, 1), (-45.0, -4, 4), (0.5, 2, 2), (123.4, 0, -2), (-6.2, 4, -4)]
cases = []
for index in range(3):
    img = Image.fromarray(pixels[index], mode="L")
    for angle, tx, ty in moves:
        for mode in ["nearest", "bilinear"]:
            out = F.affine(img, angle, [tx, ty], 1.0, [0.0, 0.0], interpolation=InterpolationMode(mode), fill=0)
            cases.append({"index": index, "angle": angle, "tx": tx, "ty": ty, "mode": mode,
                          "pixels": np.asarray(out).reshape(-1).tolist()})
json.dump(cases, open("affines.json", "w"), separators=(",", ":"))
print(len(cases), "cases")
