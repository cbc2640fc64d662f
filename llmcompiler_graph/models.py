"""Which chat model to use when the caller does not pass one."""

from __future__ import annotations

import os

from langchain_core.language_models import LanguageModelLike

from llmcompiler_graph import local_model

__all__ = ["DEFAULT_HOSTED_MODEL", "LOCAL_MODEL", "NoModelError", "describe_model", "resolve_model"]

DEFAULT_HOSTED_MODEL = "openai:gpt-4o-mini"
LOCAL_MODEL = "local"


class NoModelError(RuntimeError):
    """No model was given and none can be found on this machine."""


def resolve_model(name: str | None = None) -> LanguageModelLike:
    """The chat model to run on, in this order of preference.

    1. `name` (`provider:model` for `init_chat_model`, or `"local"` for the embedded model);
    2. the hosted default (`openai:gpt-4o-mini`) when `OPENAI_API_KEY` is set;
    3. the embedded local model (Gemma 3 270M through llama.cpp) when it is installed.

    Raises:
        NoModelError: Nothing to run on (no name, no key, no local model).

    Example:
        >>> model = resolve_model("anthropic:claude-sonnet-4-5")  # doctest: +SKIP
        >>> model = resolve_model()  # doctest: +SKIP
    """
    from langchain.chat_models import init_chat_model

    if name == LOCAL_MODEL or (not name and not os.environ.get("OPENAI_API_KEY")):
        try:
            return local_model.load_local_model()
        except local_model.LocalModelUnavailableError as error:
            msg = (
                f"no model configured and {error}; or pass --model provider:name "
                "(for example openai:gpt-4o-mini) or set OPENAI_API_KEY"
            )
            raise NoModelError(msg) from error
    return init_chat_model(name or DEFAULT_HOSTED_MODEL)


def describe_model(model: LanguageModelLike) -> str:
    """A short human name for a chat model (for progress output)."""
    if isinstance(model, local_model.LocalCompletionChatModel):
        return f"{local_model.LOCAL_MODEL_NAME}, local"
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
