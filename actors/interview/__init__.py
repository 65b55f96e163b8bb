"""The interview's rules on text, shared by the session core and the model engines.

Below both ``actors.session`` and ``actors.models``: pure functions (no I/O, no model, no
clock), so what the engines check, what the session decides and what the quality benchmark
measures is one definition.

- :mod:`~actors.interview.language`: which language a text is in (:func:`lang_of`,
  :func:`language_pure`, Hangul/Han helpers).
- :mod:`~actors.interview.text`: sentence splitting (whole texts and streams), cutting to
  a length, cleaning model output for speech, neutralising candidate text for prompts.
- :mod:`~actors.interview.lexicon`: the vocabulary of résumés and postings (technologies,
  numbers, actions, people, results), English and Korean.
- :mod:`~actors.interview.segments`: pasted text (prose, PDF, bullets) back into sentences.
- :mod:`~actors.interview.documents`: a résumé read into claims, a posting into requirements.
- :mod:`~actors.interview.quoting`: a quotable piece of a sentence, a name for its subject.
- :mod:`~actors.interview.answers`: rules on answers (what one lacks, what to quote, a
  repeat, a near-duplicate question, text addressed to the grader).
- :mod:`~actors.interview.feedback`: which generated feedback sentences may be shown.
"""
