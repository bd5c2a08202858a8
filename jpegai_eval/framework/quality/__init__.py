"""Fidelity metrics: PSNR/SSIM/MS-SSIM of the learned-compression convention
and JPEG AI's suite."""
