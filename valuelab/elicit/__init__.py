"""Getting answers out of models: backends, prompts, parsing, the response cache, pairwise elicitation.

Importing this package does not import torch or transformers; the backends do on first use.
"""

from .cache import ResponseCache, cache_key
from .embedded import DEFAULT_MODEL, EMBEDDED_MODELS, cache_dir, embedded_model_dir
from .design import active_design, regular_graph_pairs
from .pairwise import elicit_comparisons, elicit_utilities, position_bias
from .local_server import LocalServer
from .openai_backend import OpenAIModel, ServerError
from .parse import is_refusal, parse_choice
from .prompts import PAIRWISE_TEMPLATES, PromptTemplate, pairwise_prompt
from .transformers_backend import TransformersModel, option_token_variants

__all__ = [
    "ResponseCache",
    "cache_key",
    "DEFAULT_MODEL",
    "EMBEDDED_MODELS",
    "cache_dir",
    "embedded_model_dir",
    "active_design",
    "regular_graph_pairs",
    "elicit_comparisons",
    "elicit_utilities",
    "position_bias",
    "LocalServer",
    "OpenAIModel",
    "ServerError",
    "is_refusal",
    "parse_choice",
    "PAIRWISE_TEMPLATES",
    "PromptTemplate",
    "pairwise_prompt",
    "TransformersModel",
    "option_token_variants",
]
