"""The embedded local model (Gemma 3 270M through llama.cpp): loaded only when asked for."""
