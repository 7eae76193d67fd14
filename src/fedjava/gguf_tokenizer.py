"""The tokenizer of a Gemma 3 GGUF file, built from the file's own vocabulary instead of by transformers.

transformers rebuilds a GGUF's tokenizer with converters that change between releases. For Gemma 3,
5.17 turned "public static int" into ``public ▁st at ic ▁int`` where 5.24 gives ``public ▁static ▁int``:
a training sample grew from 669 to 965 tokens and a model trained on it learned nothing, with no warning.
Building the tokenizer here, with the ``gguf`` and ``tokenizers`` libraries only, gives the same token ids
under every transformers version. The result is the tokenizer transformers 5.24 builds (the same
``tokenizer.json``, checked by ``tests/test_gguf_convert.py``).

A Gemma 3 GGUF holds a SentencePiece BPE vocabulary, already in merge order, and no merge list: the
merges are recovered from the vocabulary (every split of a token into two tokens), ranked by the
position of the token they make.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Architectures whose GGUF tokenizer is built here; others go through transformers' converter. Only
# the built-in model's is checked against known token ids, so the list stays that short.
OWN_TOKENIZER_ARCHITECTURES = ("gemma3",)

# llama.cpp's token types (gguf.TokenType): control tokens are special, user-defined ones are kept whole.
CONTROL = 3
USER_DEFINED = 4
SPACE = "\u2581"


@dataclass(frozen=True)
class GgufVocabulary:
    """What a GGUF file says about its tokenizer."""

    architecture: str
    tokenizer_model: str
    tokens: list[str]
    token_types: list[int]
    special_ids: dict[str, int]  # bos_token, eos_token, unk_token, pad_token -> id, for those the file names
    add_bos: bool
    add_eos: bool
    chat_template: str | None = None


def read_vocabulary(gguf_path: str | Path) -> GgufVocabulary:
    """Read the tokenizer metadata of ``gguf_path`` with the ``gguf`` package (about 25 s for Gemma 3's file)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    fields = reader.fields
    names = {
        "bos_token": "bos_token_id",
        "eos_token": "eos_token_id",
        "unk_token": "unknown_token_id",
        "pad_token": "padding_token_id",
    }
    special_ids = {
        name: _values(fields[f"tokenizer.ggml.{key}"])[0]
        for name, key in names.items()
        if f"tokenizer.ggml.{key}" in fields
    }
    types_field = fields.get("tokenizer.ggml.token_type")
    return GgufVocabulary(
        architecture=_values(fields["general.architecture"])[0],
        tokenizer_model=_values(fields["tokenizer.ggml.model"])[0],
        tokens=_values(fields["tokenizer.ggml.tokens"]),
        token_types=_values(types_field) if types_field is not None else [],
        special_ids=special_ids,
        add_bos=_flag(fields, "tokenizer.ggml.add_bos_token", default=True),
        add_eos=_flag(fields, "tokenizer.ggml.add_eos_token", default=False),
        chat_template=_values(fields["tokenizer.chat_template"])[0] if "tokenizer.chat_template" in fields else None,
    )


def builds_own_tokenizer(vocabulary: GgufVocabulary) -> bool:
    """True when this module builds the file's tokenizer (a SentencePiece vocabulary of a known architecture)."""
    return vocabulary.tokenizer_model == "llama" and vocabulary.architecture in OWN_TOKENIZER_ARCHITECTURES


def build_tokenizer(vocabulary: GgufVocabulary):
    """A ``tokenizers.Tokenizer``: byte-fallback BPE, spaces written as ▁, no prefix space, BOS as the file says."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    spelled = [_respell(token) for token in vocabulary.tokens]
    vocab = {token: index for index, token in enumerate(spelled)}
    unk = vocabulary.tokens[vocabulary.special_ids["unk_token"]] if "unk_token" in vocabulary.special_ids else None
    tokenizer = Tokenizer(
        BPE(
            vocab=vocab,
            merges=sentencepiece_merges(spelled),
            unk_token=unk,
            fuse_unk=True,
            byte_fallback=True,
            dropout=None,
        )
    )
    tokenizer.normalizer = normalizers.Replace(" ", SPACE)
    # A no-op once spaces are ▁, kept so that the tokenizer.json equals the one transformers 5.24 writes.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    tokenizer.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    kinds = list(zip(vocabulary.tokens, vocabulary.token_types, strict=False))  # an old file may have no types
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t, k in kinds if k == CONTROL])
    # Runs of spaces are user-defined too, but spelled with real spaces that the text never holds once
    # normalized; their ▁ spelling is an ordinary BPE token, so only the others are added whole.
    tokenizer.add_tokens(
        [AddedToken(t, normalized=False, special=False) for t, k in kinds if k == USER_DEFINED and t in vocab]
    )
    tokenizer.post_processor = _bos_eos_template(vocabulary)
    return tokenizer


def build_hf_tokenizer(vocabulary: GgufVocabulary):
    """The tokenizer wrapped for transformers, saved as a plain ``TokenizersBackend``.

    Saved under a model-specific class (``GemmaTokenizer``), transformers would rebuild the normalizer and
    decoder from its own code when loading: the plain class loads ``tokenizer.json`` as it is.
    """
    from transformers import PreTrainedTokenizerFast

    specials = {name: vocabulary.tokens[index] for name, index in vocabulary.special_ids.items()}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(vocabulary), padding_side="left", **specials)
    tokenizer.chat_template = vocabulary.chat_template
    return tokenizer


def sentencepiece_merges(tokens: list[str]) -> list[tuple[str, str]]:
    """Every way to make a token from two tokens, best first: in vocabulary order, longer left part first.

    SentencePiece lists a BPE vocabulary in the order its merges were learned, so a token's position is
    its merge rank (Gemma's scores do not follow that order). Among the splits of one token, the longer
    left part first is the tie-break transformers 5.24 uses.
    """
    known = set(tokens)
    merges = []
    for token in tokens:
        for cut in range(len(token) - 1, 0, -1):
            left, right = token[:cut], token[cut:]
            if left in known and right in known:
                merges.append((left, right))
    return merges


def _respell(token: str) -> str:
    """Gemma's GGUF stores runs of spaces as spaces, while the text they match is spelled with ▁ by then."""
    return SPACE * len(token) if token and not token.strip(" ") else token


def _bos_eos_template(vocabulary: GgufVocabulary):
    """The post-processor that adds BOS (and EOS) around a text when the file asks for it."""
    from tokenizers import processors

    ids = vocabulary.special_ids
    bos = vocabulary.tokens[ids["bos_token"]] if vocabulary.add_bos and "bos_token" in ids else None
    eos = vocabulary.tokens[ids["eos_token"]] if vocabulary.add_eos and "eos_token" in ids else None

    def around(sequence: str, type_id: int) -> str:
        marks = [f"{bos}:{type_id}"] * bool(bos) + [f"${sequence}:{type_id}"] + [f"{eos}:{type_id}"] * bool(eos)
        return " ".join(marks)

    specials = {token: ids[name] for token, name in ((bos, "bos_token"), (eos, "eos_token")) if token}
    return processors.TemplateProcessing(
        single=around("A", 0), pair=f"{around('A', 0)} {around('B', 1)}", special_tokens=list(specials.items())
    )


def _values(field) -> list:
    """A GGUF field's values as Python strings or numbers (works with old and new ``gguf`` releases)."""
    from gguf import GGUFValueType

    if field.types[-1] == GGUFValueType.STRING:
        return [bytes(field.parts[index]).decode("utf-8") for index in field.data]
    return [field.parts[index].tolist()[0] for index in field.data]


def _flag(fields, key: str, default: bool) -> bool:
    return bool(_values(fields[key])[0]) if key in fields else default
