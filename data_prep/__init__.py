"""Dataset preparation: download from the official sources, import a local copy, write split lists.

Run from the project root, e.g. ``python -m data_prep.kitti`` (or ``python data_prep/kitti.py``):

- ``kitti``: KITTI 2012 + 2015 multi-view archives -> ``data/kitti`` with NDIC-CAM's split lists;
- ``splits``: (re)write the KITTI split lists of a KITTI folder (the KITTI General ones are fetched);
- ``cityscape``: Cityscapes left/right 8-bit images (needs a Cityscapes account) -> ``data/cityscape``;
- ``middlebury``: Middlebury 2014 stereo scenes -> ``data/middlebury``;
- ``kodak``: the 24 Kodak images -> ``data/kodak``;
- ``clic_professional``: CLIC Professional's 41 validation images -> ``data/clic_professional``;
- ``tecnick``: Tecnick's 100 SAMPLING RGB 1200x1200 images -> ``data/tecnick``;
- ``images``: any folder of images -> ``data/images/{train,test}`` (CompressAI's ImageFolder).

Every command takes ``--root DIR`` (default: where ``ndic.data.load`` looks, ``$NDIC_DATA/<name>``)
and ``--from DIR`` (use files already downloaded instead of the network). Downloads resume where
they stopped, show a progress bar, and are checked against published checksums where there are any.
"""
