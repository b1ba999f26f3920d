#!/usr/bin/python3
"""torchvision's side of bench_data: ImageFolder + DataLoader with
RandomResizedCrop(224), RandomHorizontalFlip, ToTensor, Normalize, batch 32,
two epochs.  Usage: dataloader_torch.py TRAIN_DIR WORKERS"""
import sys
import time

import torch
from torchvision import datasets, transforms

torch.set_num_threads(1)
tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                         transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
loader = torch.utils.data.DataLoader(datasets.ImageFolder(sys.argv[1], tf), batch_size=32, shuffle=True,
                                     num_workers=int(sys.argv[2]))
start, total = time.time(), 0
for epoch in range(2):
    for x, _ in loader:
        total += x.shape[0]
seconds = time.time() - start
print("torchvision DataLoader, %s worker(s): %d images in %.2f s = %.0f images/s" % (sys.argv[2], total, seconds,
                                                                                   total / seconds))
