r"""Hierarchical latent relation recommenders (HLR, HLR++; Tran et al.,
RecSys 2021) and their baselines on PyTorch Geometric."""
__version__ = '0.1.0'
