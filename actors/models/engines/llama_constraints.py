"""What llama.cpp may sample: the Han-token ban and the grammars of the structured replies.

The 1.5B model lets Chinese characters leak into Korean, so every vocabulary token that
contains a UTF-8 lead byte of the Han block gets ``-inf`` while sampling. A grammar forces
the assessment to be the rubric's JSON object (language-aware for its texts).

Careful: llama.cpp aborts the whole process if a grammar is left with no allowed token
("empty grammar stack"). Banning Han tokens is safe because no grammar here ever requires a
Han character.
"""

from __future__ import annotations

__all__ = ["Grammars", "han_ban_processor", "han_tokens"]

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.models.rubric import ASSESSMENT_SCHEMA, assessment_grammar


def han_tokens(llm: Any) -> npt.NDArray[np.intc]:
    """Ids of every token of ``llm``'s vocabulary that contains a CJK ideograph byte."""
    # UTF-8 lead bytes 0xE4..0xE9 start exactly the code points U+4000..U+9FFF (CJK
    # ideographs); no Hangul, Latin or punctuation uses them, so banning every token
    # that contains one makes Chinese characters impossible without touching Korean.
    banned = [
        i
        for i in range(llm.n_vocab())
        if any(0xE4 <= b <= 0xE9 for b in llm.detokenize([i], special=False))
    ]
    return np.array(banned, dtype=np.intc)


def han_ban_processor(ban: npt.NDArray[np.intc]) -> Any:
    """A llama-cpp-python ``LogitsProcessorList`` that forbids the tokens in ``ban``."""
    from llama_cpp import LogitsProcessorList

    def no_han(
        _input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        scores[ban] = -np.inf
        return scores

    return LogitsProcessorList([no_han])


@dataclass(frozen=True, slots=True)
class Grammars:
    """Compiled grammars: the assessment (schema-only and per language)."""

    assess: Any
    assess_by_lang: dict[str, Any]

    @classmethod
    def compile(cls, languages: tuple[str, ...]) -> Grammars:
        from llama_cpp.llama_grammar import LlamaGrammar

        return cls(
            # The same conversion create_chat_completion(response_format={"type":
            # "json_object", "schema": ...}) performs; we build ChatML ourselves, so we call it.
            assess=LlamaGrammar.from_json_schema(json.dumps(ASSESSMENT_SCHEMA), verbose=False),
            assess_by_lang={
                lang: LlamaGrammar.from_string(assessment_grammar(lang), verbose=False)
                for lang in languages
            },
        )

    def for_assessment(self, lang: str) -> Any:
        return self.assess_by_lang.get(lang, self.assess)
