"""The prepare stage: model inputs (M-modes, frames, clips) in physical space, with their ROIs."""
