"""Analysis of measured electrochemistry (GITT diffusion coefficients); pure numpy, no instrument code."""
