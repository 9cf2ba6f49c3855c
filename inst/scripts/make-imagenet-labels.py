# Writes inst/extdata/imagenet_labels.txt: the 1000 ImageNet-1k class names, one per line, in
# class-index order (line k + 1 is class k), as torchvision ships them with its pretrained
# weights (Debian: python3-torchvision). Run from the package root:
#   /usr/bin/python3 inst/scripts/make-imagenet-labels.py
import torchvision

labels = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
assert len(labels) == 1000, len(labels)
assert all("\n" not in s for s in labels)
with open("inst/extdata/imagenet_labels.txt", "w", encoding="utf-8") as f:
    for s in labels:
        f.write(s + "\n")
