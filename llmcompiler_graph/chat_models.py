"""Which chat model to use when the caller does not pass one.

The embedded local model (:mod:`llmcompiler_graph.local`) is imported only when it is
asked for: `import llmcompiler_graph` does not load it.
"""

from __future__ import annotations

import os
import sys

from langchain_core.language_models import LanguageModelLike

__all__ = [
    "API_KEY_VARIABLES",
    "DEFAULT_HOSTED_MODEL",
    "LOCAL_MODEL",
    "ModelSetupError",
    "NoModelError",
    "describe_model",
    "model_provider",
    "resolve_model",
]

DEFAULT_HOSTED_MODEL = "openai:gpt-4o-mini"
LOCAL_MODEL = "local"

API_KEY_VARIABLES = {
    "anthropic": "ANTHROPIC_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "openai": "OPENAI_API_KEY",
    "perplexity": "PPLX_API_KEY",
    "together": "TOGETHER_API_KEY",
    "xai": "XAI_API_KEY",
}
"""The environment variable each hosted provider's LangChain integration reads its key from."""

_PROVIDER_PREFIXES = (
    (("gpt-", "o1", "o3", "o4", "chatgpt", "text-davinci"), "openai"),
    (("claude",), "anthropic"),
    (("command",), "cohere"),
    (("accounts/fireworks",), "fireworks"),
    (("gemini",), "google_vertexai"),
    (("amazon.", "anthropic.", "meta."), "bedrock"),
    (("mistral", "mixtral"), "mistralai"),
    (("deepseek",), "deepseek"),
    (("grok",), "xai"),
    (("sonar",), "perplexity"),
)
"""Model-name prefixes and their provider, as `init_chat_model` infers them."""


class NoModelError(RuntimeError):
    """No model was given and none can be found on this machine."""


class ModelSetupError(ValueError):
    """The model that was asked for cannot be built here: no API key, or no integration package."""


def model_provider(name: str) -> str | None:
    """The provider of a model string: its `provider:` prefix, or inferred from the name.

    Example:
        >>> model_provider("openai:gpt-4o-mini"), model_provider("claude-sonnet-4-5"), model_provider("x")
        ('openai', 'anthropic', None)
    """
    provider, separator, _ = name.partition(":")
    if separator and provider:
        return provider
    lowered = name.lower()
    return next((provider for prefixes, provider in _PROVIDER_PREFIXES if lowered.startswith(prefixes)), None)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _hosted_model(name: str) -> LanguageModelLike:
    """`init_chat_model(name)`, with a one-line reason when the model cannot be built here."""
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(name)
    except ImportError as error:  # the provider's integration package is not installed
        msg = f"model {name!r} needs its LangChain integration package: {_first_line(error)}"
        raise ModelSetupError(msg) from error
    except Exception as error:  # clients that check credentials when built (OpenAI's does)
        key = API_KEY_VARIABLES.get(model_provider(name) or "")
        if key and not os.environ.get(key):
            msg = (
                f"model {name!r} needs an API key: set {key} (export {key}=...), "
                "or pass --model local for the embedded model"
            )
        else:
            msg = f"cannot use model {name!r}: {type(error).__name__}: {_first_line(error)}"
        raise ModelSetupError(msg) from error


def resolve_model(name: str | None = None) -> LanguageModelLike:
    """The chat model to run on, in this order of preference.

    1. `name` (`provider:model` for `init_chat_model`, or `"local"` for the embedded model);
    2. the hosted default (`openai:gpt-4o-mini`) when `OPENAI_API_KEY` is set;
    3. the embedded local model (Gemma 3 270M through llama.cpp) when it is installed.

    Raises:
        NoModelError: Nothing to run on (no name, no key, no local model).
        ModelSetupError: The named hosted model cannot be built here (its API key is not set,
            its integration package is missing, or its name names no provider).

    Example:
        >>> model = resolve_model("anthropic:claude-sonnet-4-5")  # doctest: +SKIP
        >>> model = resolve_model()  # doctest: +SKIP
    """
    if name == LOCAL_MODEL or (not name and not os.environ.get("OPENAI_API_KEY")):
        from llmcompiler_graph.local import model as local_model

        try:
            return local_model.load_local_model()
        except local_model.LocalModelUnavailableError as error:
            msg = (
                f"no model configured and {error}; or pass --model provider:name "
                "(for example openai:gpt-4o-mini) or set OPENAI_API_KEY"
            )
            raise NoModelError(msg) from error
    return _hosted_model(name or DEFAULT_HOSTED_MODEL)


def describe_model(model: LanguageModelLike) -> str:
    """A short human name for a chat model (for progress output)."""
    local_model = sys.modules.get("llmcompiler_graph.local.model")  # not loaded: not a local model
    if local_model is not None and isinstance(model, local_model.LocalCompletionChatModel):
        return f"{local_model.LOCAL_MODEL_NAME}, local"
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
