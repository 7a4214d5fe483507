"""Build steps: tokenize, balance 1:1:1 with knowledge upsampling, split into 4k/32k context phases, FIM, pack."""
