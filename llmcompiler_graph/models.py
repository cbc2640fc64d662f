"""Which chat model to use when the caller does not pass one."""

from __future__ import annotations

import os

from langchain_core.language_models import LanguageModelLike

__all__ = ["DEFAULT_HOSTED_MODEL", "NoModelError", "resolve_model"]

DEFAULT_HOSTED_MODEL = "openai:gpt-4o-mini"


class NoModelError(RuntimeError):
    """No model was given and none can be found on this machine."""


def resolve_model(name: str | None = None) -> LanguageModelLike:
    """The model named `provider:model`; else the hosted default when `OPENAI_API_KEY` is set.

    Raises:
        NoModelError: Neither a name nor an API key, so there is nothing to run on.
    """
    from langchain.chat_models import init_chat_model

    if name:
        return init_chat_model(name)
    if os.environ.get("OPENAI_API_KEY"):
        return init_chat_model(DEFAULT_HOSTED_MODEL)
    msg = (
        "no model configured: pass --model provider:name (for example openai:gpt-4o-mini) "
        "or set OPENAI_API_KEY"
    )
    raise NoModelError(msg)
