"""Bytes -> clean text with an offset map -> chunks.

``decode`` turns bytes into text (encoding detection, refusals), ``html`` reduces a
page to its article, ``clean`` normalises scraped Chinese news while mapping every
character back to the original, ``boilerplate`` finds scrape boilerplate, ``meta``
finds the publication date and ``chunk`` splits text into sentence-aligned chunks.
"""

from llmx._text.boilerplate import find_boilerplate
from llmx._text.chunk import Chunk, chunk_text, split_sentences
from llmx._text.clean import CleanText, TextBuilder, clean_text
from llmx._text.decode import DEFAULT_MAX_BYTES, Decoded, decode, decode_bytes, to_text
from llmx._text.html import html_to_text
from llmx._text.meta import find_published

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Chunk",
    "CleanText",
    "Decoded",
    "TextBuilder",
    "chunk_text",
    "clean_text",
    "decode",
    "decode_bytes",
    "find_boilerplate",
    "find_published",
    "html_to_text",
    "split_sentences",
    "to_text",
]
